package dev.stasis.os;

import java.util.concurrent.CountDownLatch;
import java.util.function.BooleanSupplier;

/**
 * Waiting for a thread (or a latch it opens) where an interrupt must not cut the wait short, as for a RAM fill's or a
 * write tracker's thread before its userfaultfd closes (the descriptor could be another file's by the time that thread
 * used it): the interrupt is kept for the caller instead.
 */
public final class UninterruptibleJoin {
    private UninterruptibleJoin() {}

    /** Returns once {@code t} has ended (at once for the calling thread itself), the interrupt flag as it was set meanwhile. */
    public static void of(Thread t) {
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

    /**
     * Waits on {@code monitor} (held by the caller) until {@code done} is true, the interrupt flag as it was set
     * meanwhile; whoever makes it true notifies the monitor.
     */
    public static void until(Object monitor, BooleanSupplier done) {
        boolean interrupted = false;
        while (!done.getAsBoolean()) {
            try {
                monitor.wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Returns once {@code latch} is open, the interrupt flag as it was set meanwhile. */
    public static void await(CountDownLatch latch) {
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
