package dev.stasis.devices.virtio;

import dev.stasis.snapshot.state.StateDescription;
import java.util.List;

/**
 * Everything a {@link VirtioMmio} transport holds: the negotiation, the driver's selectors, the pending interrupt
 * bits and every queue as the driver set it up, with the device's place in it. Section {@code virtio-mmio}, one
 * instance per transport slot.
 *
 * @param status            the device status byte (virtio 1.2, 2.1), DEVICE_NEEDS_RESET included
 * @param driverFeatures    the feature bits the driver accepted
 * @param deviceFeaturesSel which 32 bits of the offered features the DeviceFeatures register shows
 * @param driverFeaturesSel which 32 bits of the accepted features a DriverFeatures write sets
 * @param queueSel          the queue the queue registers address
 * @param interruptStatus   InterruptStatus: bit 0 used buffers, bit 1 configuration change, not yet acknowledged
 * @param queues            every queue of the device, in order
 *
 * <p>The selectors and queue sizes are whatever 32 bits the driver wrote (a bad value is refused when used, not
 * when written), so they are saved as unsigned 32-bit numbers.
 */
public record VirtioMmioState(int status, long driverFeatures, int deviceFeaturesSel, int driverFeaturesSel, int queueSel,
                              int interruptStatus, List<QueueState> queues) {

    /**
     * One queue: what the driver wrote (size, ready, ring addresses) and where the device stands in it.
     *
     * @param lastAvail the next driver-ring index the device takes
     * @param usedIdx   the device-ring index the device last published
     */
    public record QueueState(int size, boolean ready, long desc, long avail, long used, int lastAvail, int usedIdx) {
        public static final StateDescription<QueueState> DESCRIPTION = StateDescription.of("virtqueue", QueueState.class, 1)
                .u32("size", q -> Integer.toUnsignedLong(q.size()))
                .bool("ready", QueueState::ready)
                .u64("desc", QueueState::desc)
                .u64("avail", QueueState::avail)
                .u64("used", QueueState::used)
                .u16("last_avail", QueueState::lastAvail)
                .u16("used_idx", QueueState::usedIdx)
                .build(r -> new QueueState((int) r.getLong("size"), r.getBool("ready"), r.getLong("desc"), r.getLong("avail"),
                        r.getLong("used"), r.getInt("last_avail"), r.getInt("used_idx")));

        QueueConfig config() {
            return new QueueConfig(size, desc, avail, used);
        }
    }

    public static final StateDescription<VirtioMmioState> DESCRIPTION = StateDescription.of("virtio-mmio", VirtioMmioState.class, 1)
            .u8("status", VirtioMmioState::status)
            .u64("driver_features", VirtioMmioState::driverFeatures)
            .u32("device_features_sel", s -> Integer.toUnsignedLong(s.deviceFeaturesSel()))
            .u32("driver_features_sel", s -> Integer.toUnsignedLong(s.driverFeaturesSel()))
            .u32("queue_sel", s -> Integer.toUnsignedLong(s.queueSel()))
            .u8("interrupt_status", VirtioMmioState::interruptStatus)
            .list("queues", QueueState.DESCRIPTION, VirtioMmioState::queues)
            .build(r -> new VirtioMmioState(r.getInt("status"), r.getLong("driver_features"), (int) r.getLong("device_features_sel"),
                    (int) r.getLong("driver_features_sel"), (int) r.getLong("queue_sel"), r.getInt("interrupt_status"),
                    r.getList("queues").stream().map(QueueState.DESCRIPTION::fromNormalized).toList()));

    public VirtioMmioState {
        queues = List.copyOf(queues);
    }
}
