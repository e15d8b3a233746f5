package dev.stasis.devices.rtc;

import dev.stasis.snapshot.state.StateDescription;
import java.util.Arrays;
import java.util.Objects;

/**
 * Everything a {@link CmosRtc} holds. Time is the guest's own wall clock, never a host clock reading, so a
 * restore resumes the guest's time where it was saved, on any host, however much later.
 *
 * @param cmos          all 128 bytes: time registers 0x00..0x09 (in the format register B selects), control
 *                      registers A..D at 0x0a..0x0d, battery-backed RAM 0x0e..0x7f (century at 0x32).
 *                      While the clock runs its time registers here are a copy of {@code epochSeconds};
 *                      while it is halted (B.SET or divider reset) they are what the guest wrote and rule.
 * @param index         the register selected through port 0x70 (0..0x7f)
 * @param nmiDisabled   bit 7 of the last index write
 * @param epochSeconds  the guest's RTC time, seconds since 1970-01-01 (the calendar the registers show,
 *                      conventionally UTC), between years 0000 and 9999
 * @param nanoOfSecond  how far into that second the clock is (0..999 999 999); it places the next tick and UIP
 */
public record CmosRtcState(byte[] cmos, int index, boolean nmiDisabled, long epochSeconds, int nanoOfSecond) {

    /** The {@code rtc} snapshot section: guest wall-clock time, never a host reading. */
    public static final StateDescription<CmosRtcState> DESCRIPTION = StateDescription.of("rtc", CmosRtcState.class, 1)
            .bytes("cmos", CmosRtcState::cmos)
            .u8("index", CmosRtcState::index)
            .bool("nmi_disabled", CmosRtcState::nmiDisabled)
            .i64("epoch_seconds", CmosRtcState::epochSeconds)
            .u32("nano_of_second", CmosRtcState::nanoOfSecond)
            .build(r -> new CmosRtcState(r.getBytes("cmos"), r.getInt("index"), r.getBool("nmi_disabled"),
                    r.getLong("epoch_seconds"), r.getInt("nano_of_second")));


    public CmosRtcState {
        cmos = cmos == null ? null : cmos.clone();
    }

    @Override
    public byte[] cmos() {
        return cmos == null ? null : cmos.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CmosRtcState s && Arrays.equals(cmos, s.cmos) && index == s.index
                && nmiDisabled == s.nmiDisabled && epochSeconds == s.epochSeconds && nanoOfSecond == s.nanoOfSecond;
    }

    @Override
    public int hashCode() {
        return 31 * Objects.hash(index, nmiDisabled, epochSeconds, nanoOfSecond) + Arrays.hashCode(cmos);
    }

    @Override
    public String toString() {
        return "CmosRtcState[index=0x" + Integer.toHexString(index) + ", nmiDisabled=" + nmiDisabled
                + ", epochSeconds=" + epochSeconds + ", nanoOfSecond=" + nanoOfSecond
                + ", cmos=" + Arrays.toString(cmos) + "]";
    }
}
