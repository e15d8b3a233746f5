package dev.stasis.devices.kvm;

import dev.stasis.kvm.x86.ClockData;
import dev.stasis.snapshot.state.StateDescription;

/**
 * The {@code clock} section: the VM's kvmclock in guest nanoseconds. Only the guest's clock value is kept;
 * host realtime and TSC readings from KVM_GET_CLOCK mean nothing on another host or later.
 */
public final class ClockSection {
    private ClockSection() {}

    public static final StateDescription<ClockData> DESCRIPTION = StateDescription.of("clock", ClockData.class, 1)
            .u64("kvmclock_ns", ClockData::clock)
            .build(r -> new ClockData(r.getLong("kvmclock_ns"), 0, 0, 0));
}
