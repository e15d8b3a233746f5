package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/**
 * {@code struct kvm_pit_channel_state}. {@code countLoadTime} is a host ktime in KVM's own clock: KVM
 * rebases it on KVM_SET_PIT2, so it is kept only to hand back to the same kernel.
 */
public record PitChannel(int count, int latchedCount, int countLatched, int statusLatched, int status, int readState,
                         int writeState, int writeLatch, int rwMode, int mode, int bcd, int gate, long countLoadTime) {

    static PitChannel read(Pointer p, long o) {
        return new PitChannel(p.getInt(o), p.getShort(o + PIT_CHANNEL_LATCHED_COUNT) & 0xffff,
                u8(p, o + PIT_CHANNEL_COUNT_LATCHED), u8(p, o + PIT_CHANNEL_STATUS_LATCHED), u8(p, o + PIT_CHANNEL_STATUS),
                u8(p, o + PIT_CHANNEL_READ_STATE), u8(p, o + PIT_CHANNEL_WRITE_STATE), u8(p, o + PIT_CHANNEL_WRITE_LATCH),
                u8(p, o + PIT_CHANNEL_RW_MODE), u8(p, o + PIT_CHANNEL_MODE), u8(p, o + PIT_CHANNEL_BCD), u8(p, o + PIT_CHANNEL_GATE),
                p.getLong(o + PIT_CHANNEL_COUNT_LOAD_TIME));
    }

    void write(Pointer p, long o) {
        p.setInt(o, count);
        p.setShort(o + PIT_CHANNEL_LATCHED_COUNT, (short) latchedCount);
        p.setByte(o + PIT_CHANNEL_COUNT_LATCHED, (byte) countLatched);
        p.setByte(o + PIT_CHANNEL_STATUS_LATCHED, (byte) statusLatched);
        p.setByte(o + PIT_CHANNEL_STATUS, (byte) status);
        p.setByte(o + PIT_CHANNEL_READ_STATE, (byte) readState);
        p.setByte(o + PIT_CHANNEL_WRITE_STATE, (byte) writeState);
        p.setByte(o + PIT_CHANNEL_WRITE_LATCH, (byte) writeLatch);
        p.setByte(o + PIT_CHANNEL_RW_MODE, (byte) rwMode);
        p.setByte(o + PIT_CHANNEL_MODE, (byte) mode);
        p.setByte(o + PIT_CHANNEL_BCD, (byte) bcd);
        p.setByte(o + PIT_CHANNEL_GATE, (byte) gate);
        p.setLong(o + PIT_CHANNEL_COUNT_LOAD_TIME, countLoadTime);
    }

    private static int u8(Pointer p, long o) {
        return p.getByte(o) & 0xff;
    }
}
