package dev.stasis.bus;

import java.util.Arrays;

/** Non-overlapping {@code [base, base + length)} ranges, each owned by one device, found by address. */
final class AddressRanges<D> {
    record Entry<D>(long base, long length, D device, String name) {}

    /**
     * The ranges in base order, as two arrays made anew at each {@link #add} (set-up) and searched by {@link #find}
     * (every exit) without allocating: a TreeMap's floorEntry boxed the address and made an entry per port write,
     * garbage whose young collections stopped the guest (a vCPU thread waits at the safepoint on its next exit).
     */
    private record Sorted<D>(long[] bases, Entry<D>[] entries) {
        /** The index of the last range whose base is at or below {@code address}, or -1. */
        int floor(long address) {
            int i = Arrays.binarySearch(bases, address);
            return i >= 0 ? i : -i - 2;
        }
    }

    @SuppressWarnings("unchecked")
    private volatile Sorted<D> sorted = new Sorted<>(new long[0], (Entry<D>[]) new Entry<?>[0]);

    synchronized void add(long base, long length, D device, String name) {
        if (length <= 0) {
            throw new IllegalArgumentException(name + ": empty range at 0x" + Long.toHexString(base));
        }
        Sorted<D> s = sorted;
        int below = s.floor(base + length - 1);
        if (below >= 0 && s.entries()[below].base() + s.entries()[below].length() > base) {
            Entry<D> b = s.entries()[below];
            throw new IllegalArgumentException(String.format("%s at [0x%x, 0x%x) overlaps %s at [0x%x, 0x%x)", name, base,
                    base + length, b.name(), b.base(), b.base() + b.length()));
        }
        int at = below + 1; // every range before it ends at or below base, every one after it starts past its end
        long[] bases = new long[s.bases().length + 1];
        Entry<D>[] entries = Arrays.copyOf(s.entries(), bases.length);
        System.arraycopy(s.bases(), 0, bases, 0, at);
        System.arraycopy(s.bases(), at, bases, at + 1, s.bases().length - at);
        System.arraycopy(s.entries(), at, entries, at + 1, s.entries().length - at);
        bases[at] = base;
        entries[at] = new Entry<>(base, length, device, name);
        sorted = new Sorted<>(bases, entries);
    }

    /** The range holding {@code address}, or null. */
    Entry<D> find(long address) {
        Sorted<D> s = sorted;
        int i = s.floor(address);
        if (i < 0) {
            return null;
        }
        Entry<D> e = s.entries()[i];
        return address - e.base() < e.length() ? e : null;
    }
}
