package dev.stasis.devices.virtio;

/**
 * The guest broke a virtqueue's rules (a chain that loops or leaves RAM, an index that ran ahead of the ring): the
 * device stops using the queue and asks for a reset, and the VMM goes on (virtio 1.2, 2.1.2 DEVICE_NEEDS_RESET).
 */
public final class VirtqueueException extends Exception {
    public VirtqueueException(String message) {
        super(message);
    }
}
