package dev.stasis.memory;

import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The guest pages the VMM itself writes (loaders, devices through {@link dev.stasis.devices.DmaMemory}) while
 * tracking is on. KVM's dirty log records only what the guest writes; whoever follows changes to guest RAM
 * (migration's dirty rounds) ORs these in. One bitmap per RAM range, in the dirty log's shape (bit i of word i/64 =
 * page i of range); marking and draining are lock-free and may race with each other without losing a page.
 */
public final class WrittenPages {
    private final List<MemoryRange> ranges;
    private final AtomicLongArray[] maps;
    private volatile boolean tracking;

    WrittenPages(MemoryLayout layout) {
        this.ranges = layout.ranges();
        this.maps = new AtomicLongArray[ranges.size()];
        for (int i = 0; i < maps.length; i++) {
            maps[i] = new AtomicLongArray((int) ((ranges.get(i).size() / MemoryLayout.PAGE_SIZE + 63) / 64));
        }
    }

    /** Starts (empty) or stops recording. */
    public void track(boolean on) {
        if (on) {
            drain();
        }
        tracking = on;
    }


    /** Records {@code [gpa, gpa + length)}, which lies in one range (the caller checked). */
    void mark(long gpa, long length) {
        if (!tracking || length <= 0) {
            return;
        }
        for (int r = 0; r < maps.length; r++) {
            MemoryRange range = ranges.get(r);
            if (gpa >= range.gpa() && gpa - range.gpa() < range.size()) {
                long first = (gpa - range.gpa()) / MemoryLayout.PAGE_SIZE;
                long last = (gpa - range.gpa() + length - 1) / MemoryLayout.PAGE_SIZE;
                for (long p = first; p <= last; p++) {
                    int word = (int) (p >>> 6);
                    long bit = 1L << (p & 63);
                    long old;
                    do {
                        old = maps[r].get(word);
                    } while ((old & bit) == 0 && !maps[r].compareAndSet(word, old, old | bit));
                }
                return;
            }
        }
    }

    /** The pages written since the last drain, one bitmap per range, and clears them. */
    public long[][] drain() {
        long[][] out = new long[maps.length][];
        for (int r = 0; r < maps.length; r++) {
            out[r] = new long[maps[r].length()];
            for (int w = 0; w < out[r].length; w++) {
                out[r][w] = maps[r].getAndSet(w, 0);
            }
        }
        return out;
    }
}
