package dev.stasis.memory;

import dev.stasis.os.Niceness;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The threads a lazy restore serves faults and fetches chunks on, kept by the process between restores: a lazy
 * restore started five while its guest waited to run, which took 1-8 ms of a 12-20 ms restore in a running process
 * on this software KVM's host. Fetchers run at background priority, on threads of their own:
 * a thread's nice value, once raised, stays. An idle thread ends after a minute.
 */
final class FillThreads {
    private FillThreads() {}

    private static final ExecutorService SERVERS = pool("stasis-fill", false);
    private static final ExecutorService FETCHERS = pool("stasis-fill-fetch", true);

    private static ExecutorService pool(String name, boolean background) {
        AtomicInteger made = new AtomicInteger();
        return new ThreadPoolExecutor(0, Integer.MAX_VALUE, 60, TimeUnit.SECONDS, new SynchronousQueue<>(), r -> {
            Thread t = background ? Niceness.backgroundThread(r) : new Thread(r);
            t.setName(name + "-" + made.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    /** {@code body} on a kept thread at normal priority, named {@code name} while it runs. */
    static Running server(String name, Runnable body) {
        return new Running(SERVERS, name, body);
    }

    /** {@code body} on a kept thread at background priority, named {@code name} while it runs. */
    static Running fetcher(String name, Runnable body) {
        return new Running(FETCHERS, name, body);
    }

    /** A body handed to a kept thread: {@link #join} waits for it as joining its own thread would. */
    static final class Running {
        private final CountDownLatch done = new CountDownLatch(1);
        private volatile Thread runner;

        private Running(ExecutorService pool, String name, Runnable body) {
            pool.execute(() -> {
                Thread self = Thread.currentThread();
                String idle = self.getName();
                runner = self;
                self.setName(name);
                try {
                    body.run();
                } finally {
                    runner = null;
                    self.setName(idle);
                    done.countDown();
                }
            });
        }

        /**
         * Returns once the body has ended (at once when called from the body itself), keeping an interrupt for the
         * caller: the wait must not be cut short before a userfaultfd the body uses closes.
         */
        void join() {
            if (runner != Thread.currentThread()) {
                UninterruptibleJoin.await(done);
            }
        }
    }
}
