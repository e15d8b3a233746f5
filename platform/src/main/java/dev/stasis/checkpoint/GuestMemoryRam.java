package dev.stasis.checkpoint;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import dev.stasis.memory.PointInTimeRam;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.GuestRamSink;
import dev.stasis.snapshot.container.RamRange;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Guest RAM as the snapshot writer reads it and the reader fills it: zero-copy windows over the mapping of a
 * paused guest, or, for a live snapshot, the bytes of the instant from a {@link PointInTimeRam}.
 */
public final class GuestMemoryRam implements GuestRam, GuestRamSink {
    private final GuestMemory memory;
    /** Null: the guest is paused (or not started) and its mapping is read as it is. */
    private final PointInTimeRam instant;

    public GuestMemoryRam(GuestMemory memory) {
        this(memory, null);
    }

    GuestMemoryRam(GuestMemory memory, PointInTimeRam instant) {
        this.memory = memory;
        this.instant = instant;
    }

    @Override
    public boolean knownZero(long gpa, long length) {
        return instant != null ? instant.knownZero(gpa, length) : memory.isKnownZero(gpa, length);
    }

    @Override
    public List<RamRange> ranges() {
        return memory.layout().ranges().stream().map(r -> new RamRange(r.gpa(), r.size())).toList();
    }

    @Override
    public ByteBuffer window(long gpa, int length) {
        return instant != null ? instant.window(gpa, length) : memory.buffer(gpa, length);
    }

    @Override
    public void release(long gpa, long length) {
        if (instant != null) {
            instant.release(gpa, length);
        }
    }

    static List<MemoryRange> asLayoutRanges(List<RamRange> ranges) {
        return ranges.stream().map(r -> new MemoryRange(r.gpa(), r.size())).toList();
    }
}
