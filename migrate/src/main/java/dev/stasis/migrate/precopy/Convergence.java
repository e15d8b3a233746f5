package dev.stasis.migrate.precopy;

/**
 * When to stop and copy, and when to slow the guest. After each round the sender reports how many pages it
 * sent and how long that took; the cost per page of the latest round that carried enough pages to measure
 * predicts how long the pause would be for the pages dirty now. Stop when that fits the downtime target.
 *
 * <p>Auto-converge (QEMU's rule): when a round's newly dirty pages are more than half of what the round
 * before it sent, twice in a row, the guest dirties memory about as fast as the link carries it; throttle
 * the vCPUs, starting at {@link #INITIAL_THROTTLE}% and adding {@link #THROTTLE_STEP}% each time, up to
 * {@link #MAX_THROTTLE}%.
 */
public final class Convergence {
    public static final int INITIAL_THROTTLE = 20;
    public static final int THROTTLE_STEP = 10;
    public static final int MAX_THROTTLE = 99;
    /** Sections, the last message exchange and starting the destination's vCPUs: a fixed allowance. */
    static final long FIXED_COST_NANOS = 2_000_000;
    private static final int MIN_MEASURED_PAGES = 64;

    private final long downtimeNanos;
    private double nanosPerPage = -1;
    private long lastSent = -1;
    private int fastDirtyRounds;
    private int throttle;

    public Convergence(long downtimeNanos) {
        this.downtimeNanos = downtimeNanos;
    }

    /** A round sent {@code pages} (of which {@code dataPages} not zero) in {@code nanos}. */
    public void roundSent(long pages, long dataPages, long nanos) {
        if (dataPages >= MIN_MEASURED_PAGES) {
            nanosPerPage = (double) nanos / dataPages; // dirty pages are rarely zero: price them as data
        } else if (nanosPerPage < 0 && pages > 0) {
            nanosPerPage = (double) nanos / pages;
        }
        lastSent = pages;
    }

    /** The pause that sending {@code dirtyPages} now would cost, in nanoseconds. */
    public long expectedDowntime(long dirtyPages) {
        double perPage = nanosPerPage < 0 ? 100_000 : nanosPerPage;
        return FIXED_COST_NANOS + (long) (dirtyPages * perPage);
    }

    public boolean shouldStop(long dirtyPages) {
        return dirtyPages == 0 || expectedDowntime(dirtyPages) <= downtimeNanos;
    }

    /** Given the pages dirtied during the last round, the throttle the vCPUs should run at now. */
    public int throttleFor(long dirtyPages) {
        if (lastSent >= 0 && dirtyPages * 2 > lastSent) {
            if (++fastDirtyRounds >= 2) {
                fastDirtyRounds = 0;
                throttle = throttle == 0 ? INITIAL_THROTTLE : Math.min(MAX_THROTTLE, throttle + THROTTLE_STEP);
            }
        } else {
            fastDirtyRounds = 0;
        }
        return throttle;
    }
}
