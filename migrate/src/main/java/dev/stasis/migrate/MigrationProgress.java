package dev.stasis.migrate;

import dev.stasis.migrate.MigrationException.Kind;

/**
 * A running migration as others may watch and stop it (the control socket's {@code migrate-status} and
 * {@code migrate-cancel}, from another client while {@code migrate} runs). The sender updates it after every round;
 * {@link #cancel} takes effect at the next span of pages or round of pre-copy, or, once the guest is paused for the
 * stop-and-copy, when the destination answers READY (the guest then resumes here); never after COMMIT: then the
 * destination may already run the guest.
 */
public final class MigrationProgress {
    /** What a watcher sees; rates from the last round; {@code expectedDowntimeMs} what the pause would take now. */
    public record View(String phase, int round, long pagesSent, long bytesSent, double bytesPerSecond, double dirtyPagesPerSecond,
                       double expectedDowntimeMs, long elapsedMs, boolean cancelRequested) {}

    private final long start = System.nanoTime();
    private volatile String phase = "connecting";
    private volatile int round;
    private volatile long pagesSent;
    private volatile long bytesSent;
    private volatile double bytesPerSecond;
    private volatile double dirtyPagesPerSecond;
    private volatile double expectedDowntimeMs;
    private volatile boolean cancelRequested;
    private boolean committed;

    public View view() {
        return new View(phase, round, pagesSent, bytesSent, bytesPerSecond, dirtyPagesPerSecond, expectedDowntimeMs,
                (System.nanoTime() - start) / 1_000_000, cancelRequested);
    }

    /** Asks the migration to stop, the guest running on here; false when it is too late (COMMIT sent) or over. */
    public synchronized boolean cancel() {
        if (committed || phase.equals("done") || phase.equals("failed")) {
            return false;
        }
        cancelRequested = true;
        return true;
    }

    void phase(String p) {
        phase = p;
    }

    void round(int n, long pages, long bytes, long roundNanos, long dirtyNow, long expectedDowntimeNanos, long roundBytes) {
        round = n;
        pagesSent = pages;
        bytesSent = bytes;
        double seconds = Math.max(roundNanos, 1) / 1e9;
        bytesPerSecond = roundBytes / seconds;
        dirtyPagesPerSecond = dirtyNow / seconds;
        expectedDowntimeMs = expectedDowntimeNanos / 1e6;
    }

    /** Throws {@link Kind#CANCELLED} when a cancel was asked for. */
    void checkCancelled() {
        if (cancelRequested) {
            throw new MigrationException(Kind.CANCELLED, "the migration was cancelled (migrate-cancel)");
        }
    }

    /** The point of no return: checks for a cancel one last time, then refuses any later one. */
    synchronized void commit() {
        checkCancelled();
        committed = true;
        phase = "committing";
    }
}
