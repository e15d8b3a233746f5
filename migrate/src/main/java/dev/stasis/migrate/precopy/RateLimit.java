package dev.stasis.migrate.precopy;

/** A byte budget per second shared by all connections (--max-bandwidth); 0 = unlimited. */
public final class RateLimit {
    private final long bytesPerSecond;
    private long nextFree = System.nanoTime();

    public RateLimit(long bytesPerSecond) {
        this.bytesPerSecond = bytesPerSecond;
    }

    /** Blocks until {@code bytes} more fit the budget. */
    public void take(long bytes) throws InterruptedException {
        if (bytesPerSecond <= 0) {
            return;
        }
        long wait;
        synchronized (this) {
            long now = System.nanoTime();
            nextFree = Math.max(nextFree, now) + bytes * 1_000_000_000L / bytesPerSecond;
            wait = nextFree - now;
        }
        if (wait > 0) {
            Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
    }
}
