package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * Guest memory as the snapshot writer reads it; the platform implements this over its mapped RAM, paused,
 * or over a point-in-time view of a running guest (a live snapshot). {@link #window} and {@link #knownZero}
 * are called from several compression threads at once; ranges may overlap (a page is read again to compare
 * it with a duplicate), only for reading. A thread holds at most one window longer than a page and one window
 * of a single page at a time, so a view that must copy may reuse one buffer of each kind per thread.
 */
public interface GuestRam {
    /** The RAM ranges, page aligned, ascending and non-overlapping. */
    List<RamRange> ranges();

    /**
     * The guest bytes {@code [gpa, gpa + length)} as a buffer whose bytes from its position on are those
     * guest bytes, zero-copy (a direct buffer over the mapping). {@code length} is at most the writer's
     * chunk size and never crosses a range.
     */
    ByteBuffer window(long gpa, int length);

    /**
     * A hint: true when the platform knows {@code [gpa, gpa + length)} is all zero (never touched), so the
     * writer need not read it. False is always correct.
     */
    default boolean knownZero(long gpa, long length) {
        return false;
    }

    /**
     * The writer will not read {@code [gpa, gpa + length)} again (called in address order from one thread, each
     * chunk once its block is written; pages that are the source of a later page reference at the end): a live
     * view frees what it kept for the range and stops tracking guest writes to it.
     */
    default void release(long gpa, long length) {
    }
}
