package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.util.List;

/**
 * The guest memory a file holds: page size, chunk size and the RAM ranges. Ranges are cut into chunks
 * of {@code chunkSize} from each range's start (the last chunk of a range may be shorter); chunks appear
 * in the file in ascending address order, one CHUNK block each.
 */
public record MemoryMap(int pageSize, int chunkSize, List<RamRange> ranges) {
    public static final int MIN_CHUNK = 64 << 10;
    public static final int MAX_CHUNK = 16 << 20;
    public static final int MAX_RANGES = 1024;
    /** Guest-physical addresses beyond 52 bits do not exist on x86-64. */
    public static final long MAX_GPA = 1L << 52;

    public MemoryMap {
        ranges = List.copyOf(ranges);
    }

    /** Checks geometry and ranges; the message names the first offending range. */
    static MemoryMap checked(int pageSize, int chunkSize, List<RamRange> ranges, Kind kind) {
        if (pageSize != Layout.PAGE_SIZE) {
            throw new SnapshotFormatException(kind, "page size " + pageSize + " is not supported (only 4096)");
        }
        if (Integer.bitCount(chunkSize) != 1 || chunkSize < MIN_CHUNK || chunkSize > MAX_CHUNK) {
            throw new SnapshotFormatException(kind, "chunk size " + chunkSize + " is not a power of two from 64 KiB to 16 MiB");
        }
        if (ranges.size() > MAX_RANGES) {
            throw new SnapshotFormatException(Kind.LIMIT, ranges.size() + " memory ranges exceed the limit " + MAX_RANGES);
        }
        long previousEnd = 0;
        for (int i = 0; i < ranges.size(); i++) {
            RamRange r = ranges.get(i);
            String what = "memory range " + i + " (gpa " + Layout.hex(r.gpa()) + ", size " + Layout.hex(r.size()) + ")";
            if (r.gpa() % pageSize != 0 || r.size() % pageSize != 0) {
                throw new SnapshotFormatException(kind, what + " is not page aligned");
            }
            if (r.size() <= 0 || r.gpa() < 0 || r.gpa() >= MAX_GPA || r.size() > MAX_GPA - r.gpa()) {
                throw new SnapshotFormatException(kind, what + " is empty or exceeds the 52-bit physical address space");
            }
            if (i > 0 && r.gpa() < previousEnd) {
                throw new SnapshotFormatException(kind, what + " overlaps or precedes range " + (i - 1) + " ending at " + Layout.hex(previousEnd));
            }
            previousEnd = r.end();
        }
        return new MemoryMap(pageSize, chunkSize, ranges);
    }

    public long totalBytes() {
        return ranges.stream().mapToLong(RamRange::size).sum();
    }

    public long chunkCount() {
        long n = 0;
        for (RamRange r : ranges) {
            n += (r.size() + chunkSize - 1) / chunkSize;
        }
        return n;
    }

    /** Every chunk in file order; only call once {@link #chunkCount} is known to be sane. */
    Chunk[] chunks() {
        Chunk[] out = new Chunk[Math.toIntExact(chunkCount())];
        int i = 0;
        for (RamRange r : ranges) {
            for (long off = 0; off < r.size(); off += chunkSize) {
                out[i] = new Chunk(i, r.gpa() + off, (int) Math.min(chunkSize, r.size() - off));
                i++;
            }
        }
        return out;
    }

    /** One chunk: its place in file order, its guest address and length. */
    record Chunk(int index, long gpa, int length) {
        int pages() {
            return length / Layout.PAGE_SIZE;
        }
    }
}
