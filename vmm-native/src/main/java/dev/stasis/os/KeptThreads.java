package dev.stasis.os;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Daemon threads kept between uses, for work a guest or a peer waits on while its thread would be made: a lazy
 * restore's fault server and fetchers (five new threads took 1-8 ms of each restore), a migration destination's
 * handshakes (a thread made at the first connection was most of the source's wait for its HELLO's answer). Some can
 * be started ahead; an idle thread beyond those ends after a while. Threads that must be their own ({@code Thread}
 * objects others join or signal, as a vCPU's) come from {@link SpareThreads} instead.
 */
public final class KeptThreads {
    private final ThreadPoolExecutor pool;

    /**
     * Threads named {@code name-N}; {@code background}: at {@link Niceness#BACKGROUND} (a thread's nice value, once raised,
     * stays, so a pool runs at one priority); {@code ahead} threads started now and kept for good, others ending after
     * {@code idle} unused.
     */
    public KeptThreads(String name, boolean background, int ahead, Duration idle) {
        AtomicInteger made = new AtomicInteger();
        pool = new ThreadPoolExecutor(ahead, Integer.MAX_VALUE, idle.toNanos(), TimeUnit.NANOSECONDS, new SynchronousQueue<>(), r -> {
            Thread t = background ? Niceness.backgroundThread(r) : new Thread(r);
            t.setName(name + "-" + made.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        pool.prestartAllCoreThreads();
    }

    /** {@code body} on a kept thread (a new one if none is idle). Throws {@code RejectedExecutionException} once shut down. */
    public void execute(Runnable body) {
        pool.execute(body);
    }

    /** {@code body} on a kept thread named {@code name} while it runs, to be {@link Running#join joined} as a thread would be. */
    public Running run(String name, Runnable body) {
        return new Running(this, name, body);
    }

    /** No new bodies; each thread ends once its body has. */
    public void shutdown() {
        pool.shutdown();
    }

    /** A body handed to a kept thread. */
    public static final class Running {
        private final CountDownLatch done = new CountDownLatch(1);
        private volatile Thread runner;

        private Running(KeptThreads threads, String name, Runnable body) {
            threads.execute(() -> {
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
         * caller: a body may use a descriptor its joiner closes next.
         */
        public void join() {
            if (runner != Thread.currentThread()) {
                UninterruptibleJoin.await(done);
            }
        }
    }
}
