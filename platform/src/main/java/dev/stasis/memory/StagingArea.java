package dev.stasis.memory;

import com.sun.jna.Pointer;
import dev.stasis.os.Mapping;
import java.nio.ByteBuffer;

/**
 * A fill thread's own anonymous area, aligned to 2 MiB and asking for huge pages, that a chunk is decoded into at its
 * place and then moved into guest RAM with UFFDIO_MOVE ({@link LazyRam}): no copy, and RAM gets the huge pages an
 * eager restore's first touch gets, where UFFDIO_COPY places 4 KiB pages only (a guest then runs on 4 KiB mappings,
 * and a later live snapshot protects 512 entries per 2 MiB instead of one).
 */
final class StagingArea implements AutoCloseable {
    private static final long HUGE_PAGE = 2L << 20;

    private final Mapping mapping;
    private final long offset;
    private final int size;
    private final Pointer address;
    private final ByteBuffer buffer;

    StagingArea(int size) {
        this.size = size;
        this.mapping = Mapping.anonymous(size + HUGE_PAGE);
        mapping.adviseHugePages();
        long base = Pointer.nativeValue(mapping.address());
        this.offset = (HUGE_PAGE - base % HUGE_PAGE) % HUGE_PAGE;
        this.address = mapping.address().share(offset);
        this.buffer = address.getByteBuffer(0, size);
    }

    /** The area (its zero pages read as zero: holes, or pages never written since the last {@link #clear}). */
    ByteBuffer buffer() {
        return buffer;
    }

    Pointer address() {
        return address;
    }

    /** Back to holes, after a chunk that was not moved out whole. */
    void clear() {
        mapping.discard(offset, size);
    }

    @Override
    public void close() {
        mapping.close();
    }
}
