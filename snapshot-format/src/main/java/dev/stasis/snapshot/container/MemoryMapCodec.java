package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.util.ArrayList;
import java.util.List;

/** The MEMORY_MAP block: page size u32, chunk size u32, range count varint, then (gpa u64, size u64) per range. */
final class MemoryMapCodec {
    private MemoryMapCodec() {}

    static byte[] encode(MemoryMap map) {
        Encoder out = new Encoder();
        out.u32(map.pageSize()).u32(map.chunkSize()).varUnsigned(map.ranges().size());
        for (RamRange r : map.ranges()) {
            out.u64(r.gpa()).u64(r.size());
        }
        return out.toBytes();
    }

    /** @param tolerateTrailing bytes after the known fields are a newer minor's additions */
    static MemoryMap decode(Decoder in, boolean tolerateTrailing) {
        int pageSize = in.u32("page size");
        int chunkSize = in.u32("chunk size");
        int n = in.count("range count", 16, MemoryMap.MAX_RANGES);
        List<RamRange> ranges = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ranges.add(new RamRange(in.u64("range " + i + " gpa"), in.u64("range " + i + " size")));
        }
        if (!tolerateTrailing) {
            in.end("the memory map");
        }
        try {
            return MemoryMap.checked(pageSize, chunkSize, ranges, Kind.MALFORMED);
        } catch (SnapshotFormatException e) {
            throw e.within(in.at());
        }
    }
}
