package dev.stasis.memory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Copies of single guest pages, taken by a live snapshot's fault handler before it lets the guest write
 * a page the snapshot has not read yet. Held in 2 MiB slabs of direct memory allocated as needed; a slot
 * freed when the writer is done with its page is used again. Thread-safe: the fault handler takes slots
 * while the writer's threads read and free them.
 */
final class PageCopies {
    static final int PAGE = 4096;
    private static final int SLAB_PAGES = 512;

    private final List<ByteBuffer> slabs = new ArrayList<>();
    private int[] free = new int[64];
    private int freeCount;
    private int used;
    private int peak;

    /** Copies the page {@code page} (a 4 KiB view of guest RAM) into a slot; returns the slot. */
    int copyOf(ByteBuffer page) {
        int slot = take();
        slab(slot).put(offset(slot), page, page.position(), PAGE);
        return slot;
    }

    /** Copies slot {@code slot} into {@code out} at {@code at}. */
    void read(int slot, ByteBuffer out, int at) {
        out.put(at, slab(slot), offset(slot), PAGE);
    }

    synchronized void free(int slot) {
        if (freeCount == free.length) {
            free = java.util.Arrays.copyOf(free, freeCount * 2);
        }
        free[freeCount++] = slot;
        used--;
    }

    /** The most pages held at once. */
    synchronized int peak() {
        return peak;
    }

    private synchronized int take() {
        used++;
        peak = Math.max(peak, used);
        if (freeCount > 0) {
            return free[--freeCount];
        }
        int slot = slabs.size() * SLAB_PAGES;
        slabs.add(ByteBuffer.allocateDirect(SLAB_PAGES * PAGE));
        for (int i = SLAB_PAGES - 1; i > 0; i--) {
            free(slot + i);
            used++;
        }
        return slot;
    }

    private synchronized ByteBuffer slab(int slot) {
        return slabs.get(slot / SLAB_PAGES);
    }

    private static int offset(int slot) {
        return slot % SLAB_PAGES * PAGE;
    }
}
