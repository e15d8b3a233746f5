package dev.stasis.forensics;

import dev.stasis.snapshot.container.RamRange;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/** Guest RAM as one heap buffer starting at guest-physical {@code base}: page tables built by hand in tests. */
public record BufferMemory(long base, ByteBuffer buffer) implements PhysicalMemory {
    public BufferMemory {
        buffer = buffer.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    public static BufferMemory zeroed(long base, int size) {
        return new BufferMemory(base, ByteBuffer.allocate(size));
    }

    @Override
    public List<RamRange> ranges() {
        return List.of(new RamRange(base, buffer.capacity()));
    }

    @Override
    public ByteBuffer view(long gpa, int length) {
        if (gpa < base || length < 0 || gpa - base > buffer.capacity() - length) {
            return null;
        }
        return buffer.slice((int) (gpa - base), length).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    public BufferMemory putLong(long gpa, long value) {
        buffer.putLong((int) (gpa - base), value);
        return this;
    }

    public BufferMemory putInt(long gpa, int value) {
        buffer.putInt((int) (gpa - base), value);
        return this;
    }

    public BufferMemory put(long gpa, byte[] bytes) {
        buffer.put((int) (gpa - base), bytes);
        return this;
    }
}
