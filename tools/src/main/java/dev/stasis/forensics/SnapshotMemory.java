package dev.stasis.forensics;

import dev.stasis.os.Mapping;
import dev.stasis.snapshot.container.GuestRamSink;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SnapshotReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A snapshot's guest RAM decompressed into anonymous host mappings, one per range, so any address can be
 * read at once. Zero pages are never written, so they cost no host memory (the mapping stays untouched).
 */
public final class SnapshotMemory implements PhysicalMemory, AutoCloseable {
    private final List<RamRange> ranges;
    private final List<Mapping> mappings = new ArrayList<>();

    private SnapshotMemory(List<RamRange> ranges) {
        this.ranges = List.copyOf(ranges);
    }

    /** Reads all memory of {@code reader}; {@code progress} gets the guest bytes of each chunk as it starts. */
    public static SnapshotMemory load(SnapshotReader reader, LongConsumer progress) throws IOException {
        if (reader.memoryMap() == null) {
            throw new ForensicsException(reader.path() + " holds no guest memory");
        }
        SnapshotMemory m = new SnapshotMemory(reader.memoryMap().ranges());
        try {
            for (RamRange r : m.ranges) {
                m.mappings.add(Mapping.anonymous(r.size()));
            }
            GuestRamSink sink = (gpa, length) -> {
                progress.accept(length);
                ByteBuffer b = m.view(gpa, length);
                if (b == null) {
                    throw new IllegalStateException("the reader asked for 0x" + Long.toHexString(gpa) + " outside the memory map");
                }
                return b;
            };
            reader.readMemory(sink, true);
            return m;
        } catch (IOException | RuntimeException e) {
            m.close();
            throw e;
        }
    }

    @Override
    public List<RamRange> ranges() {
        return ranges;
    }

    /** A writable view while loading; callers outside this class only read. */
    @Override
    public ByteBuffer view(long gpa, int length) {
        for (int i = 0; i < ranges.size() && i < mappings.size(); i++) {
            RamRange r = ranges.get(i);
            if (gpa >= r.gpa() && length >= 0 && length <= r.end() - gpa) {
                return mappings.get(i).address().getByteBuffer(gpa - r.gpa(), length).order(ByteOrder.LITTLE_ENDIAN);
            }
        }
        return null;
    }

    public long totalBytes() {
        return ranges.stream().mapToLong(RamRange::size).sum();
    }

    @Override
    public void close() {
        mappings.forEach(Mapping::close);
        mappings.clear();
    }
}
