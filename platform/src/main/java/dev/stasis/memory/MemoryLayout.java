package dev.stasis.memory;

import java.util.ArrayList;
import java.util.List;

/**
 * The guest-physical RAM ranges of a VM, validated once at construction (OpenBSD's
 * {@code vm_create_check_mem_ranges} is the model): each range is non-empty and page-aligned, the ranges
 * ascend without overlapping, none reaches into the x86 MMIO hole below 4 GiB, and the total stays under
 * {@link #MAX_MEMORY}. Whatever is wrong, the error names the range.
 */
public record MemoryLayout(List<MemoryRange> ranges) {
    public static final long PAGE_SIZE = 4096;
    /** The LAPIC, IOAPIC and firmware live in [3 GiB, 4 GiB); RAM above 3 GiB moves to 4 GiB. */
    public static final long MMIO_HOLE_START = 3L << 30;
    public static final long MMIO_HOLE_END = 4L << 30;
    /** A guest-physical address must fit this machine's 46 physical address bits with room to spare. */
    public static final long MAX_MEMORY = 1L << 40;

    public MemoryLayout {
        ranges = List.copyOf(ranges);
        if (ranges.isEmpty()) {
            throw new InvalidMemoryLayoutException("no memory ranges");
        }
        long total = 0;
        MemoryRange previous = null;
        for (MemoryRange r : ranges) {
            if (r.size() <= 0) {
                throw new InvalidMemoryLayoutException("memory range " + r + " is empty");
            }
            if (r.gpa() < 0 || r.gpa() % PAGE_SIZE != 0 || r.size() % PAGE_SIZE != 0) {
                throw new InvalidMemoryLayoutException("memory range " + r + " is not aligned to " + PAGE_SIZE + " bytes");
            }
            if (r.end() < r.gpa() || r.end() > MAX_MEMORY) {
                throw new InvalidMemoryLayoutException("memory range " + r + " exceeds the maximum guest address 0x" + Long.toHexString(MAX_MEMORY));
            }
            if (r.gpa() < MMIO_HOLE_END && r.end() > MMIO_HOLE_START) {
                throw new InvalidMemoryLayoutException("memory range " + r + " overlaps the MMIO hole " + new MemoryRange(MMIO_HOLE_START, MMIO_HOLE_END - MMIO_HOLE_START));
            }
            if (previous != null && r.gpa() < previous.end()) {
                throw new InvalidMemoryLayoutException("memory range " + r + (r.gpa() < previous.gpa() ? " is not above " : " overlaps ") + previous);
            }
            total += r.size();
            previous = r;
        }
        if (total > MAX_MEMORY) {
            throw new InvalidMemoryLayoutException("total memory " + total + " bytes exceeds the maximum " + MAX_MEMORY);
        }
    }

    /** The usual PC layout for {@code size} bytes of RAM: low RAM up to 3 GiB, the rest above 4 GiB. */
    public static MemoryLayout ofSize(long size) {
        if (size <= 0 || size % PAGE_SIZE != 0) {
            throw new InvalidMemoryLayoutException("memory size " + size + " is not a positive multiple of " + PAGE_SIZE);
        }
        List<MemoryRange> ranges = new ArrayList<>();
        ranges.add(new MemoryRange(0, Math.min(size, MMIO_HOLE_START)));
        if (size > MMIO_HOLE_START) {
            ranges.add(new MemoryRange(MMIO_HOLE_END, size - MMIO_HOLE_START));
        }
        return new MemoryLayout(ranges);
    }

    public long totalSize() {
        return ranges.stream().mapToLong(MemoryRange::size).sum();
    }

    /** The range holding {@code [gpa, gpa + length)}, or null. */
    public MemoryRange find(long gpa, long length) {
        int i = indexOf(gpa, length);
        return i < 0 ? null : ranges.get(i);
    }

    /** The index in {@link #ranges} of the range holding {@code [gpa, gpa + length)}, or -1. */
    public int indexOf(long gpa, long length) {
        for (int i = 0; i < ranges.size(); i++) {
            if (ranges.get(i).contains(gpa, length)) {
                return i;
            }
        }
        return -1;
    }
}
