package dev.stasis.devices.kvm;

import dev.stasis.kvm.x86.PitChannel;
import dev.stasis.kvm.x86.PitState;
import dev.stasis.snapshot.state.StateDescription;

/**
 * The {@code pit} section: KVM's in-kernel i8254. A channel's load time is a host clock reading, so it is
 * not saved: KVM_SET_PIT2 reloads each channel's count from now, as the guest would see after a pause.
 */
public final class PitSection {
    private PitSection() {}

    static final StateDescription<PitChannel> CHANNEL = StateDescription.of("pit_channel", PitChannel.class, 1)
            .u32("count", PitChannel::count)
            .u16("latched_count", PitChannel::latchedCount)
            .u8("count_latched", PitChannel::countLatched)
            .u8("status_latched", PitChannel::statusLatched)
            .u8("status", PitChannel::status)
            .u8("read_state", PitChannel::readState)
            .u8("write_state", PitChannel::writeState)
            .u8("write_latch", PitChannel::writeLatch)
            .u8("rw_mode", PitChannel::rwMode)
            .u8("mode", PitChannel::mode)
            .u8("bcd", PitChannel::bcd)
            .u8("gate", PitChannel::gate)
            .build(r -> new PitChannel(r.getInt("count"), r.getInt("latched_count"), r.getInt("count_latched"),
                    r.getInt("status_latched"), r.getInt("status"), r.getInt("read_state"), r.getInt("write_state"),
                    r.getInt("write_latch"), r.getInt("rw_mode"), r.getInt("mode"), r.getInt("bcd"), r.getInt("gate"), 0));

    public static final StateDescription<PitState> DESCRIPTION = StateDescription.of("pit", PitState.class, 1)
            .list("channels", CHANNEL, PitState::channels)
            .u32("flags", PitState::flags)
            .build(r -> new PitState(r.getList("channels").stream().map(CHANNEL::fromNormalized).toList(), r.getInt("flags")));
}
