package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;
import java.util.List;

/**
 * Guest memory as the snapshot writer reads it; the platform implements this over its mapped RAM.
 * {@link #window} and {@link #knownZero} are called from several compression threads at once, for
 * disjoint ranges, while the guest is paused.
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
}
