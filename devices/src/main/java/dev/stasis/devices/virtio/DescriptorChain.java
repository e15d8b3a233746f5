package dev.stasis.devices.virtio;

import dev.stasis.devices.DmaMemory;
import java.util.List;

/**
 * One request taken from a virtqueue: the head index, and the buffers in the order the driver chained them,
 * those the device reads first, then those it writes (the driver must put them so; {@link Virtqueue} checks).
 * Every buffer lies in guest RAM (checked when the chain was taken).
 */
public record DescriptorChain(int head, List<Buffer> readable, List<Buffer> writable) {
    public record Buffer(long gpa, int length) {}

    public long readableBytes() {
        return readable.stream().mapToLong(Buffer::length).sum();
    }

    public long writableBytes() {
        return writable.stream().mapToLong(Buffer::length).sum();
    }

    /** Copies {@code length} bytes from offset {@code at} of the readable buffers taken as one; false if they are shorter. */
    public boolean read(DmaMemory memory, long at, byte[] into, int length) {
        return copy(memory, readable, at, into, length, false);
    }

    /** Writes {@code from} at offset {@code at} of the writable buffers taken as one; false if they are shorter. */
    public boolean write(DmaMemory memory, long at, byte[] from, int length) {
        return copy(memory, writable, at, from, length, true);
    }

    private static boolean copy(DmaMemory memory, List<Buffer> buffers, long at, byte[] bytes, int length, boolean toGuest) {
        int done = 0;
        long skip = at;
        for (Buffer b : buffers) {
            if (done == length) {
                break;
            }
            if (skip >= b.length()) {
                skip -= b.length();
                continue;
            }
            int n = (int) Math.min(b.length() - skip, length - done);
            if (toGuest) {
                memory.write(b.gpa() + skip, bytes, done, n);
            } else {
                memory.read(b.gpa() + skip, bytes, done, n);
            }
            done += n;
            skip = 0;
        }
        return done == length;
    }
}
