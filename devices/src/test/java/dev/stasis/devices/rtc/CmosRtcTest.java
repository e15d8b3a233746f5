package dev.stasis.devices.rtc;

import dev.stasis.devices.InvalidStateException;
import org.junit.jupiter.api.Test;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicLong;

import static dev.stasis.devices.rtc.CmosRtc.*;
import static org.junit.jupiter.api.Assertions.*;

class CmosRtcTest {
    /** 2024-02-29 (a Thursday) 13:45:30 UTC. */
    private static final long T0 = LocalDateTime.of(2024, 2, 29, 13, 45, 30).toEpochSecond(ZoneOffset.UTC);
    private static final long SECOND = 1_000_000_000L;

    private final AtomicLong host = new AtomicLong(5_000 * SECOND); // arbitrary origin: only deltas count
    private final CmosRtc rtc = new CmosRtc(T0, host::get);

    private int get(int reg) {
        rtc.write(INDEX, 1, reg);
        return rtc.read(DATA, 1);
    }

    private void set(int reg, int value) {
        rtc.write(INDEX, 1, reg);
        rtc.write(DATA, 1, value);
    }

    private void advance(long nanos) {
        host.addAndGet(nanos);
    }

    @Test
    void readsTimeInBcdByDefault() {
        assertEquals(0x30, get(SECONDS));
        assertEquals(0x45, get(MINUTES));
        assertEquals(0x13, get(HOURS));
        assertEquals(0x05, get(DAY_OF_WEEK), "Thursday, Sunday = 1");
        assertEquals(0x29, get(DAY_OF_MONTH));
        assertEquals(0x02, get(MONTH));
        assertEquals(0x24, get(YEAR));
        assertEquals(0x20, get(CENTURY));
        assertEquals(0x26, get(REG_A));
        assertEquals(B_24H, get(REG_B));
        assertEquals(0x80, get(REG_D), "RAM valid");
        assertEquals(0, get(REG_C));
    }

    @Test
    void binaryModeAndTwelveHourMode() {
        set(REG_B, B_BINARY | B_24H);
        assertEquals(30, get(SECONDS));
        assertEquals(13, get(HOURS));
        assertEquals(24, get(YEAR));
        set(REG_B, B_BINARY);
        assertEquals(0x80 | 1, get(HOURS), "1 PM binary");
        set(REG_B, 0);
        assertEquals(0x80 | 0x01, get(HOURS), "1 PM BCD");
        advance(10 * 3600 * SECOND + 15 * 60 * SECOND); // 00:00:30 next day
        assertEquals(0x12, get(HOURS), "12 AM is 12 without PM");
        advance(12 * 3600 * SECOND);
        assertEquals(0x80 | 0x12, get(HOURS), "12 PM");
        assertEquals(0x01, get(DAY_OF_MONTH));
        assertEquals(0x03, get(MONTH), "leap day rolled over into March");
    }

    @Test
    void clockAdvancesWithTheInjectedClockOnly() {
        advance(999_999_999);
        assertEquals(0x30, get(SECONDS), "not yet a full second");
        advance(1);
        assertEquals(0x31, get(SECONDS));
        advance(3600 * SECOND);
        assertEquals(0x14, get(HOURS));
        assertEquals(T0 + 3601, rtc.guestEpochSeconds());
    }

    @Test
    void uipIsSetOnlyInTheLast244MicrosecondsOfASecond() {
        assertEquals(0, get(REG_A) & A_UIP);
        advance(SECOND - UIP_NANOS - 1);
        assertEquals(0, get(REG_A) & A_UIP);
        advance(1);
        assertEquals(A_UIP, get(REG_A) & A_UIP);
        assertEquals(0x30, get(SECONDS), "registers still show the old second during UIP");
        advance(UIP_NANOS);
        assertEquals(0, get(REG_A) & A_UIP);
        assertEquals(0x31, get(SECONDS));
    }

    @Test
    void setBitHaltsTheClockAndTheWrittenTimeRunsFromRelease() {
        set(REG_B, B_SET | B_24H);
        advance(5 * SECOND);
        assertEquals(0x30, get(SECONDS), "halted");
        assertEquals(0, get(REG_A) & A_UIP, "no update in progress while halted");
        set(HOURS, 0x08);
        set(MINUTES, 0x00);
        set(SECONDS, 0x00);
        set(DAY_OF_MONTH, 0x01);
        set(MONTH, 0x01);
        set(YEAR, 0x99);
        set(CENTURY, 0x19);
        advance(7 * SECOND);
        assertEquals(0x99, get(YEAR), "reads return what was written");
        set(REG_B, B_24H);
        long expected = LocalDateTime.of(1999, 1, 1, 8, 0, 0).toEpochSecond(ZoneOffset.UTC);
        assertEquals(expected, rtc.guestEpochSeconds());
        advance(2 * SECOND);
        assertEquals(0x02, get(SECONDS));
        assertEquals(0x06, get(DAY_OF_WEEK), "1999-01-01 was a Friday");
    }

    @Test
    void setBitClearsUpdateInterruptEnable() {
        set(REG_B, B_SET | B_UIE | B_24H);
        assertEquals(B_SET | B_24H, get(REG_B));
    }

    @Test
    void linuxStyleSetWithDividerResetTicksHalfASecondAfterRelease() {
        set(REG_B, B_SET | B_24H);
        set(REG_A, 0x70);
        set(SECONDS, 0x10);
        set(REG_B, B_24H);
        advance(10 * SECOND);
        assertEquals(0x10, get(SECONDS), "divider in reset keeps it halted");
        set(REG_A, 0x26);
        advance(SECOND / 2 - 1);
        assertEquals(0x10, get(SECONDS));
        advance(1);
        assertEquals(0x11, get(SECONDS));
    }

    @Test
    void writingATimeRegisterWhileRunningSetsTheClock() {
        advance(SECOND / 4);
        set(MINUTES, 0x00);
        assertEquals(T0 - 45 * 60, rtc.guestEpochSeconds());
        advance(SECOND);
        assertEquals(0x31, get(SECONDS));
    }

    @Test
    void writesInBinaryModeAreReadBackAsBinary() {
        set(REG_B, B_SET | B_BINARY | B_24H);
        set(HOURS, 23);
        set(REG_B, B_BINARY | B_24H);
        assertEquals(23, get(HOURS));
        set(REG_B, B_24H);
        assertEquals(0x23, get(HOURS), "same time, now shown in BCD");
    }

    @Test
    void nonsenseRegistersAreClampedNotFatal() {
        set(REG_B, B_SET | B_24H);
        set(SECONDS, 0xff);
        set(MONTH, 0x02);
        set(DAY_OF_MONTH, 0x31);
        set(REG_B, B_24H);
        assertEquals(0x59, get(SECONDS));
        assertEquals(0x03, get(MONTH), "Feb 31 rolls into March");
        assertEquals(0x02, get(DAY_OF_MONTH));
    }

    @Test
    void ramAndIndexPort() {
        rtc.setNvram(0x34, 0x12);
        rtc.setNvram(0x5b, 0x01);
        assertEquals(0x12, get(0x34));
        set(0x40, 0xab);
        assertEquals(0xab, get(0x40));
        rtc.write(INDEX, 1, 0x80 | 0x34);
        assertEquals(0x12, rtc.read(DATA, 1), "bit 7 of the index is NMI disable, not address");
        assertTrue(rtc.save().nmiDisabled());
        assertEquals(0xff, rtc.read(INDEX, 1));
        set(REG_D, 0);
        assertEquals(0x80, get(REG_D), "D is read-only");
        assertThrows(IllegalArgumentException.class, () -> rtc.setNvram(REG_B, 0));
        assertThrows(IllegalArgumentException.class, () -> rtc.setNvram(CENTURY, 0x20));
        assertThrows(IllegalArgumentException.class, () -> rtc.setNvram(0x80, 0));
    }

    @Test
    void saveStoresGuestTimeAndRestoreResumesItOnAnotherHostClock() {
        set(REG_B, B_BINARY | B_24H);
        rtc.setNvram(0x35, 0x7f);
        advance(90 * SECOND + SECOND / 3);
        CmosRtcState saved = rtc.save();
        assertEquals(T0 + 90, saved.epochSeconds(), "guest time, not a host reading");
        assertEquals(SECOND / 3, saved.nanoOfSecond());

        // A different host: its clock reads something unrelated, and the restore happens long after the save.
        AtomicLong otherHost = new AtomicLong(-123_456_789_000L);
        CmosRtc copy = new CmosRtc(0, otherHost::get);
        copy.restore(saved);
        assertEquals(saved, copy.save());
        assertEquals(T0 + 90, copy.guestEpochSeconds());
        otherHost.addAndGet(SECOND - SECOND / 3);
        assertEquals(T0 + 91, copy.guestEpochSeconds(), "sub-second phase survived");
        copy.write(INDEX, 1, 0x35);
        assertEquals(0x7f, copy.read(DATA, 1));
        copy.write(INDEX, 1, SECONDS);
        assertEquals(LocalDateTime.ofEpochSecond(T0 + 91, 0, ZoneOffset.UTC).getSecond(), copy.read(DATA, 1));
    }

    @Test
    void saveWhileHaltedKeepsTheWrittenRegisters() {
        set(REG_B, B_SET | B_24H);
        set(YEAR, 0x30);
        CmosRtcState saved = rtc.save();
        CmosRtc copy = new CmosRtc(0, host::get);
        copy.restore(saved);
        advance(5 * SECOND);
        copy.write(INDEX, 1, YEAR);
        assertEquals(0x30, copy.read(DATA, 1));
        copy.write(INDEX, 1, REG_B);
        copy.write(DATA, 1, B_24H);
        assertEquals(saved.epochSeconds(), copy.guestEpochSeconds(), "halted time did not move while saved");
        assertEquals(LocalDateTime.of(2030, 3, 1, 13, 45, 30).toEpochSecond(ZoneOffset.UTC), copy.guestEpochSeconds(),
                "2030 has no February 29: the written date rolls over");
    }

    @Test
    void restoreRejectsInvalidState() {
        CmosRtcState good = rtc.save();
        byte[] c = good.cmos();
        assertRejected("CmosRtcState.cmos", new CmosRtcState(null, 0, false, T0, 0));
        assertRejected("CmosRtcState.cmos", new CmosRtcState(new byte[64], 0, false, T0, 0));
        byte[] uip = c.clone();
        uip[REG_A] |= (byte) A_UIP;
        assertRejected("CmosRtcState.cmos", new CmosRtcState(uip, 0, false, T0, 0));
        byte[] flags = c.clone();
        flags[REG_C] = 0x10;
        assertRejected("CmosRtcState.cmos", new CmosRtcState(flags, 0, false, T0, 0));
        assertRejected("CmosRtcState.index", new CmosRtcState(c, 0x80, false, T0, 0));
        assertRejected("CmosRtcState.epochSeconds", new CmosRtcState(c, 0, false, MAX_EPOCH_SECONDS + 1, 0));
        assertRejected("CmosRtcState.epochSeconds", new CmosRtcState(c, 0, false, MIN_EPOCH_SECONDS - 1, 0));
        assertRejected("CmosRtcState.nanoOfSecond", new CmosRtcState(c, 0, false, T0, 1_000_000_000));
        assertRejected("CmosRtcState.nanoOfSecond", new CmosRtcState(c, 0, false, T0, -1));
    }

    private void assertRejected(String field, CmosRtcState bad) {
        long before = rtc.guestEpochSeconds();
        InvalidStateException e = assertThrows(InvalidStateException.class, () -> rtc.restore(bad));
        assertEquals(field, e.field(), e.getMessage());
        assertEquals(before, rtc.guestEpochSeconds(), "unchanged");
    }

    @Test
    void constructorRejectsUnshowableTime() {
        assertThrows(IllegalArgumentException.class, () -> new CmosRtc(MAX_EPOCH_SECONDS + 1, host::get));
    }
}
