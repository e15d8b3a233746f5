package dev.stasis.snapshot.container;

import java.time.Duration;

/**
 * What writing or reading guest memory did.
 *
 * @param storedPages     pages whose bytes are in the file
 * @param referencedPages pages stored as a reference to an earlier page with the same bytes (format 1.1)
 * @param storedBytes     bytes of CHUNK blocks in the file (compressed data plus chunk headers)
 */
public record MemoryStats(long chunks, long pages, long zeroPages, long storedPages, long referencedPages, long storedBytes, Duration elapsed) {
    public long guestBytes() {
        return pages * Layout.PAGE_SIZE;
    }

    /** Guest bytes per second. */
    public double throughput() {
        return elapsed.isZero() ? 0 : guestBytes() / (elapsed.toNanos() / 1e9);
    }
}
