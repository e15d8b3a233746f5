package dev.stasis.memory;

import java.util.concurrent.CountDownLatch;

/**
 * Waiting for a RAM fill's or a write tracker's thread (or a latch it opens) to end before its userfaultfd closes: an
 * interrupt must not cut the wait short (the descriptor could be another file's by the time that thread used it), so
 * it is kept for the caller instead.
 */
final class UninterruptibleJoin {
    private UninterruptibleJoin() {}

    /** Returns once {@code t} has ended (at once for the calling thread itself), the interrupt flag as it was set meanwhile. */
    static void of(Thread t) {
        boolean interrupted = false;
        while (t.isAlive() && t != Thread.currentThread()) {
            try {
                t.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Returns once {@code latch} is open, the interrupt flag as it was set meanwhile. */
    static void await(CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
