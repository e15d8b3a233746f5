package dev.stasis.control;

import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * The one owner of the VM's state-changing commands: at most one of pause, resume, snapshot, migrate or
 * stop runs at a time, in order of arrival, and {@link #owner} says which and for whom. A command waiting
 * its turn whose client went away is dropped before it starts: nobody is left to want it, and a snapshot
 * written minutes after its client gave up would surprise whoever took over the VM.
 */
final class CommandOwner {
    /** The command was dropped before it started because its client is gone. */
    static final class Cancelled extends Exception {
        Cancelled(String message) {
            super(message);
        }
    }

    private static final long POLL_MILLIS = 50; // how soon a waiting command notices its client left

    private final ReentrantLock lock = new ReentrantLock(true); // fair: first come, first served
    private volatile String owner;

    /**
     * Runs {@code body} as {@code who} once no other command runs. If it had to wait and {@code gone} says its
     * client left meanwhile, throws {@link Cancelled} instead: checked only after a wait, so a client that
     * half-closes its connection after sending its request still gets an uncontended command run.
     */
    <T> T run(String who, BooleanSupplier gone, Callable<T> body) throws Exception {
        if (!lock.tryLock(0, TimeUnit.NANOSECONDS)) { // unlike tryLock(), keeps the queue's order
            while (!lock.tryLock(POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                if (gone.getAsBoolean()) {
                    throw new Cancelled(who + " was cancelled before it started: its client went away while " + owner + " ran");
                }
            }
            if (gone.getAsBoolean()) {
                lock.unlock();
                throw new Cancelled(who + " was cancelled before it started: its client went away while it waited");
            }
        }
        try {
            owner = who;
            return body.call();
        } finally {
            owner = null;
            lock.unlock();
        }
    }

    /** The command running now, e.g. {@code "snapshot for client 3 (root)"}, or null. */
    String owner() {
        return owner;
    }
}
