package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;

/** The 4 KiB page of zeros every page scan compares against and every zero-fill copies from. */
public final class ZeroPage {
    private ZeroPage() {}

    private static final ByteBuffer ZERO = ByteBuffer.allocateDirect(Layout.PAGE_SIZE).asReadOnlyBuffer();

    /** Whether {@code page} (its remaining bytes: one page) is all zero; its position does not move. */
    public static boolean isZero(ByteBuffer page) {
        return page.mismatch(ZERO) == -1;
    }

    /** A read-only view of the zero page with its own position, to copy from. */
    public static ByteBuffer view() {
        return ZERO.duplicate();
    }
}
