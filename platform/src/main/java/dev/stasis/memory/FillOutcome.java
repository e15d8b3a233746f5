package dev.stasis.memory;

import dev.stasis.os.UninterruptibleJoin;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * How a {@link RamFill} ended, shared by its engines: done once (every page in, failed or closed), the first
 * failure, and the actions waiting for the end.
 */
final class FillOutcome {
    private final String what;
    private final CountDownLatch done = new CountDownLatch(1);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final List<Runnable> whenDone = new ArrayList<>();

    /** @param what the fill, for the message of a failure: "lazy restore", "post-copy migration" */
    FillOutcome(String what) {
        this.what = what;
    }

    boolean isDone() {
        return done.getCount() == 0;
    }

    Throwable failure() {
        return failure.get();
    }

    /** Records {@code cause} if it is the first failure; true when it was. */
    boolean fail(Throwable cause) {
        return failure.compareAndSet(null, cause);
    }

    /** Ends it (once; later calls do nothing) and runs the waiting actions. */
    void complete() {
        List<Runnable> actions;
        synchronized (whenDone) {
            if (isDone()) {
                return;
            }
            done.countDown();
            actions = List.copyOf(whenDone);
            whenDone.clear();
        }
        actions.forEach(Runnable::run);
    }

    void whenDone(Runnable action) {
        synchronized (whenDone) {
            if (!isDone()) {
                whenDone.add(action);
                return;
            }
        }
        action.run();
    }

    /** Waits for the end (interrupts are kept for later); throws naming the cause when it failed. */
    void await() {
        UninterruptibleJoin.await(done);
        Throwable f = failure.get();
        if (f != null) {
            throw new IllegalStateException("guest memory is not all there: its " + what + " failed: " + f.getMessage(), f);
        }
    }
}
