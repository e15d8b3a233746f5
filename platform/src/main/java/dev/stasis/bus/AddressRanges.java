package dev.stasis.bus;

import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;

/** Non-overlapping {@code [base, base + length)} ranges, each owned by one device, found by address. */
final class AddressRanges<D> {
    record Entry<D>(long base, long length, D device, String name) {}

    /**
     * The ranges in base order, as two arrays made anew at each {@link #add} (set-up) and searched by {@link #find}
     * (every exit) without allocating: a TreeMap's floorEntry boxed the address and made an entry per port write,
     * garbage whose young collections stopped the guest (a vCPU thread waits at the safepoint on its next exit).
     */
    private record Sorted<D>(long[] bases, Entry<D>[] entries) {}

    private final TreeMap<Long, Entry<D>> byBase = new TreeMap<>();
    @SuppressWarnings("unchecked")
    private volatile Sorted<D> sorted = new Sorted<>(new long[0], (Entry<D>[]) new Entry<?>[0]);

    @SuppressWarnings("unchecked")
    synchronized void add(long base, long length, D device, String name) {
        if (length <= 0) {
            throw new IllegalArgumentException(name + ": empty range at 0x" + Long.toHexString(base));
        }
        Map.Entry<Long, Entry<D>> below = byBase.floorEntry(base + length - 1);
        if (below != null && below.getValue().base() + below.getValue().length() > base) {
            throw new IllegalArgumentException(String.format("%s at [0x%x, 0x%x) overlaps %s at [0x%x, 0x%x)", name, base,
                    base + length, below.getValue().name(), below.getKey(), below.getKey() + below.getValue().length()));
        }
        byBase.put(base, new Entry<>(base, length, device, name));
        Entry<D>[] entries = byBase.values().toArray((Entry<D>[]) new Entry<?>[0]);
        long[] bases = new long[entries.length];
        for (int i = 0; i < entries.length; i++) {
            bases[i] = entries[i].base();
        }
        sorted = new Sorted<>(bases, entries);
    }

    /** The range holding {@code address}, or null. */
    Entry<D> find(long address) {
        Sorted<D> s = sorted;
        int i = Arrays.binarySearch(s.bases(), address);
        if (i < 0) {
            i = -i - 2; // the last base below the address
        }
        if (i < 0) {
            return null;
        }
        Entry<D> e = s.entries()[i];
        return address - e.base() < e.length() ? e : null;
    }
}
