package dev.stasis.devices.virtio;

import java.util.List;

/**
 * A virtio device behind a transport (virtio 1.2, chapter 5): what it offers, its configuration space, and its
 * queue processing. The transport owns feature negotiation, queue setup and interrupts; the device owns requests.
 * Adding a device type: one implementation of this, a state section of its own if it has state beyond its queues,
 * and its place in the machine.
 */
public interface VirtioDevice {
    /** The device ID (2 = block). */
    int deviceId();

    /** The feature bits offered, VIRTIO_F_VERSION_1 (bit 32) included. */
    long features();

    int queueCount();

    /** The largest queue size the driver may choose (a power of 2). */
    int maxQueueSize();

    /** The device-specific configuration space, little-endian (read-only to the driver here). */
    byte[] config();

    /**
     * The driver set DRIVER_OK with {@code features} accepted: start serving {@code queues}, raising {@code events}
     * for used buffers and for a broken queue. After a restore, the same call resumes with the queues' saved indices,
     * and the device looks at every queue once (a notification may have been lost with the old process).
     */
    void activate(long features, List<Virtqueue> queues, Events events);

    /** Stops serving and waits until no request is in progress (a device reset, or the machine closing). */
    void deactivate();

    /** The driver notified queue {@code queue} through the transport (not through the kernel's ioeventfd). */
    void notifyQueue(int queue);

    /** Finishes requests in progress and starts none until {@link #resume} (around a snapshot). */
    void quiesce();

    void resume();

    /** What a device tells its transport from its own thread. */
    interface Events {
        /** Buffers were used: interrupt the driver (unless it asked for none). */
        void used();

        /** A queue was broken by the driver: the reason, for the log; the device needs a reset. */
        void broken(String why);
    }
}
