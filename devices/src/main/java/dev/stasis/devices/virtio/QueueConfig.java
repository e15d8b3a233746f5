package dev.stasis.devices.virtio;

import dev.stasis.devices.DmaMemory;

/**
 * Where the driver put one split virtqueue, as it set it up through the transport: its size and the guest-physical
 * addresses of the descriptor table, the driver (available) ring and the device (used) ring.
 */
public record QueueConfig(int size, long desc, long avail, long used) {
    public static final int DESCRIPTOR_BYTES = 16;

    public long descBytes() { return (long) size * DESCRIPTOR_BYTES; }

    /** flags, idx, ring[size], used_event. */
    public long availBytes() { return 6 + 2L * size; }

    /** flags, idx, ring[size] of {id, len}, avail_event. */
    public long usedBytes() { return 6 + 8L * size; }

    /** What is wrong with this configuration for a device whose queues hold at most {@code maxSize}, or null (virtio 1.2, 2.7). */
    public String problem(int maxSize, DmaMemory memory) {
        if (size < 1 || size > maxSize || (size & (size - 1)) != 0) {
            return "queue size " + size + " is not a power of 2 in [1, " + maxSize + "]";
        }
        if ((desc & 15) != 0 || (avail & 1) != 0 || (used & 3) != 0) {
            return String.format("rings misaligned (descriptors 0x%x, driver ring 0x%x, device ring 0x%x)", desc, avail, used);
        }
        if (!memory.contains(desc, descBytes()) || !memory.contains(avail, availBytes()) || !memory.contains(used, usedBytes())) {
            return String.format("rings outside guest RAM (descriptors 0x%x, driver ring 0x%x, device ring 0x%x)", desc, avail, used);
        }
        return null;
    }
}
