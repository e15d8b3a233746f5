package dev.stasis.devices.virtio;

import dev.stasis.devices.DmaMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The device side of one split virtqueue (virtio 1.2, 2.7) in guest memory: takes chains the driver made available
 * and returns them used. Everything read from the rings is the guest's and is checked before use: an available
 * index that ran more than a ring ahead, a head or next index outside the table, a chain longer than the table (a
 * loop), an indirect descriptor (not offered), a readable buffer after a writable one, a buffer outside RAM. Each is
 * a {@link VirtqueueException}, and the queue is not used again until the driver resets the device.
 *
 * <p>Used by one thread at a time (the device's I/O thread; the transport only while that thread is quiesced).
 * Ordering: on x86 loads are not reordered with loads nor stores with stores, so reading the available index
 * before its ring entries, and writing a used entry before the used index, are ordered as the spec requires.
 */
public final class Virtqueue {
    static final int F_NEXT = 1, F_WRITE = 2, F_INDIRECT = 4;
    /** A driver ring flag: the driver does not want an interrupt for used buffers (virtio 1.2, 2.7.7). */
    static final int AVAIL_F_NO_INTERRUPT = 1;

    private final QueueConfig config;
    private final DmaMemory memory;
    private final byte[] scratch = new byte[QueueConfig.DESCRIPTOR_BYTES];
    private final ByteBuffer le = ByteBuffer.wrap(scratch).order(ByteOrder.LITTLE_ENDIAN);
    private int lastAvail;
    private int usedIdx;

    public Virtqueue(QueueConfig config, DmaMemory memory, int lastAvail, int usedIdx) {
        this.config = config;
        this.memory = memory;
        this.lastAvail = lastAvail & 0xffff;
        this.usedIdx = usedIdx & 0xffff;
    }

    /** The next available index the device will take (saved with the transport). */
    public int lastAvail() { return lastAvail; }

    /** The used index the device last published. */
    public int usedIdx() { return usedIdx; }

    /** The next available chain, or null when the driver has made none available. */
    public DescriptorChain pop() throws VirtqueueException {
        int availIdx = u16(config.avail() + 2);
        int pending = (availIdx - lastAvail) & 0xffff;
        if (pending == 0) {
            return null;
        }
        if (pending > config.size()) {
            throw new VirtqueueException("the driver ring's index moved " + pending + " entries ahead of the device, more than the queue's " + config.size());
        }
        int head = u16(config.avail() + 4 + 2L * (lastAvail % config.size()));
        DescriptorChain chain = walk(head);
        lastAvail = (lastAvail + 1) & 0xffff;
        return chain;
    }

    private DescriptorChain walk(int head) throws VirtqueueException {
        List<DescriptorChain.Buffer> readable = new ArrayList<>();
        List<DescriptorChain.Buffer> writable = new ArrayList<>();
        int index = head;
        for (int count = 0; ; count++) {
            if (index >= config.size()) {
                throw new VirtqueueException("descriptor index " + index + " is outside the table of " + config.size());
            }
            if (count == config.size()) {
                throw new VirtqueueException("the chain at descriptor " + head + " is longer than the table of " + config.size() + " (a loop)");
            }
            memory.read(config.desc() + (long) index * QueueConfig.DESCRIPTOR_BYTES, scratch, 0, QueueConfig.DESCRIPTOR_BYTES);
            long addr = le.getLong(0);
            int len = le.getInt(8);
            int flags = le.getShort(12) & 0xffff;
            int next = le.getShort(14) & 0xffff;
            if ((flags & F_INDIRECT) != 0) {
                throw new VirtqueueException("descriptor " + index + " is indirect, a feature this device did not offer");
            }
            if (len < 0) {
                throw new VirtqueueException("descriptor " + index + " is " + Integer.toUnsignedLong(len) + " bytes long, more than a request may be");
            }
            if (!memory.contains(addr, len)) {
                throw new VirtqueueException(String.format("descriptor %d points outside guest RAM: [0x%x, +%d)", index, addr, len));
            }
            if ((flags & F_WRITE) != 0) {
                writable.add(new DescriptorChain.Buffer(addr, len));
            } else if (!writable.isEmpty()) {
                throw new VirtqueueException("descriptor " + index + " is readable after a writable one in the chain at " + head);
            } else {
                readable.add(new DescriptorChain.Buffer(addr, len));
            }
            if ((flags & F_NEXT) == 0) {
                return new DescriptorChain(head, List.copyOf(readable), List.copyOf(writable));
            }
            index = next;
        }
    }

    /** Returns {@code chain} to the driver, saying it wrote {@code written} bytes into its writable buffers. */
    public void push(DescriptorChain chain, int written) {
        long entry = config.used() + 4 + 8L * (usedIdx % config.size());
        le.putInt(0, chain.head());
        le.putInt(4, written);
        memory.write(entry, scratch, 0, 8);
        usedIdx = (usedIdx + 1) & 0xffff;
        le.putShort(0, (short) usedIdx);
        memory.write(config.used() + 2, scratch, 0, 2);
    }

    /** False when the driver asked for no interrupt on used buffers. */
    public boolean wantsInterrupt() {
        return (u16(config.avail()) & AVAIL_F_NO_INTERRUPT) == 0;
    }

    private int u16(long gpa) {
        memory.read(gpa, scratch, 0, 2);
        return le.getShort(0) & 0xffff;
    }
}
