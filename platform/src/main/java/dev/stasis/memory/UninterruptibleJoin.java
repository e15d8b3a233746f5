package dev.stasis.memory;

/**
 * Waiting for a RAM fill's or a write tracker's thread to end before its userfaultfd closes: an interrupt must not cut
 * the wait short (the descriptor could be another file's by the time that thread used it), so it is kept for the
 * caller instead.
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
}
