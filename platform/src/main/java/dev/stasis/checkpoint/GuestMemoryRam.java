package dev.stasis.checkpoint;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import dev.stasis.memory.PopulatedPages;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.GuestRamSink;
import dev.stasis.snapshot.container.RamRange;
import java.nio.ByteBuffer;
import java.util.List;

/** Guest RAM as the snapshot writer reads it and the reader fills it: zero-copy windows over the mapping. */
final class GuestMemoryRam implements GuestRam, GuestRamSink, AutoCloseable {
    private final GuestMemory memory;
    /** Guest RAM is anonymous private memory: pages never populated are zero and need no reading. */
    private final PopulatedPages populated;

    GuestMemoryRam(GuestMemory memory) {
        this.memory = memory;
        this.populated = PopulatedPages.open();
    }

    @Override
    public boolean knownZero(long gpa, long length) {
        return populated != null && populated.noneIn(com.sun.jna.Pointer.nativeValue(memory.pointer(gpa, length)), length);
    }

    @Override
    public void close() {
        if (populated != null) {
            populated.close();
        }
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
