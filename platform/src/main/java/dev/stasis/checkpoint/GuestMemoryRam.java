package dev.stasis.checkpoint;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.GuestRamSink;
import dev.stasis.snapshot.container.RamRange;
import java.nio.ByteBuffer;
import java.util.List;

/** Guest RAM as the snapshot writer reads it and the reader fills it: zero-copy windows over the mapping. */
/** Guest RAM as the snapshot writer reads it and the reader fills it: windows over the mapping, zero-copy. */
public final class GuestMemoryRam implements GuestRam, GuestRamSink {
    private final GuestMemory memory;

    public GuestMemoryRam(GuestMemory memory) {
        this.memory = memory;
    }

    @Override
    public boolean knownZero(long gpa, long length) {
        return memory.isKnownZero(gpa, length);
    }

    @Override
    public List<RamRange> ranges() {
        return memory.layout().ranges().stream().map(r -> new RamRange(r.gpa(), r.size())).toList();
    }

    @Override
    public ByteBuffer window(long gpa, int length) {
        return memory.buffer(gpa, length);
    }

    static List<MemoryRange> asLayoutRanges(List<RamRange> ranges) {
        return ranges.stream().map(r -> new MemoryRange(r.gpa(), r.size())).toList();
    }
}
