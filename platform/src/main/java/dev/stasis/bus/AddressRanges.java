package dev.stasis.bus;

import java.util.Map;
import java.util.TreeMap;

/** Non-overlapping {@code [base, base + length)} ranges, each owned by one device, found by address. */
final class AddressRanges<D> {
    record Entry<D>(long base, long length, D device, String name) {}

    private final TreeMap<Long, Entry<D>> byBase = new TreeMap<>();

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
    }

    /** The range holding {@code address}, or null. Reads of the map are safe once setup is done. */
    Entry<D> find(long address) {
        Map.Entry<Long, Entry<D>> e = byBase.floorEntry(address);
        if (e == null || address - e.getKey() >= e.getValue().length()) {
            return null;
        }
        return e.getValue();
    }
}
