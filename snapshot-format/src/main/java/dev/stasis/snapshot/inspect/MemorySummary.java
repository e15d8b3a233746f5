package dev.stasis.snapshot.inspect;

import dev.stasis.snapshot.container.MemoryMap;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SnapshotReader;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/** Guest memory in a file, per range: chunks, stored and zero pages, bytes in the file. */
record MemorySummary(int pageSize, int chunkSize, List<Range> ranges) {
    record Range(RamRange range, int chunks, long storedPages, long zeroPages, long compressedChunks, long fileBytes) {}

    static MemorySummary of(SnapshotReader r) throws IOException {
        MemoryMap map = r.memoryMap();
        if (map == null) {
            return null;
        }
        List<SnapshotReader.ChunkSummary> chunks = r.chunkSummaries();
        List<Range> out = new ArrayList<>();
        int c = 0;
        for (RamRange range : map.ranges()) {
            int n = 0;
            long stored = 0;
            long zero = 0;
            long compressed = 0;
            long bytes = 0;
            for (; c < chunks.size() && chunks.get(c).gpa() < range.end(); c++, n++) {
                SnapshotReader.ChunkSummary s = chunks.get(c);
                stored += s.storedPages();
                zero += s.pages() - s.storedPages();
                compressed += s.compressed() ? 1 : 0;
                bytes += s.blockBytes();
            }
            out.add(new Range(range, n, stored, zero, compressed, bytes));
        }
        return new MemorySummary(map.pageSize(), map.chunkSize(), out);
    }

    long storedPages() {
        return ranges.stream().mapToLong(Range::storedPages).sum();
    }

    long zeroPages() {
        return ranges.stream().mapToLong(Range::zeroPages).sum();
    }

    long fileBytes() {
        return ranges.stream().mapToLong(Range::fileBytes).sum();
    }

    long chunks() {
        return ranges.stream().mapToLong(Range::chunks).sum();
    }
}
