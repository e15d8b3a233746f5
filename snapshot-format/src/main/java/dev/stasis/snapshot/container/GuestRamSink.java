package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;

/**
 * Guest memory as the snapshot reader fills it; the platform implements this over its mapped RAM.
 * {@link #window} is called from several decompression threads at once, for disjoint ranges when writing;
 * a page already written may also be asked for again to be read (the source of a page reference).
 */
public interface GuestRamSink {
    /**
     * A writable buffer whose bytes from its position on are guest bytes {@code [gpa, gpa + length)},
     * zero-copy. {@code length} is at most the file's chunk size and never crosses a range.
     */
    ByteBuffer window(long gpa, int length);
}
