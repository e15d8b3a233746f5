package dev.stasis.devices.rtc;

import dev.stasis.devices.BytePioDevice;
import dev.stasis.devices.InvalidStateException;

import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Objects;
import java.util.function.LongSupplier;

import static dev.stasis.devices.InvalidStateException.require;
import static dev.stasis.devices.InvalidStateException.requireRange;

/**
 * An MC146818 real-time clock with 128 bytes of CMOS, as on every PC.
 *
 * <p>Ports, as offsets from {@link #BASE}: {@link #INDEX} (0, port 0x70, write-only: bits 6..0 select a
 * register, bit 7 disables NMI) and {@link #DATA} (1, port 0x71). Reading the index port returns 0xff.
 *
 * <p>Time: the guest's clock is a guest epoch second plus the time elapsed on an injected monotonic
 * nanosecond clock since it was last set; nothing depends on the host's wall clock after construction.
 * Registers 0..9 and the century (0x32) show it in BCD or binary (B.DM) and 24- or 12-hour form (B.24/12,
 * bit 7 of the hour = PM). The clock halts while B.SET is set or the divider chain is held in reset
 * (A.DV = 11x); the guest then writes the registers, and they become the new time when it runs again.
 * The first tick after a divider reset comes half a second later, as on the chip. A time register written
 * while the clock runs sets the clock at once (QEMU does the same). A.UIP is set during the last 244 µs of
 * each guest second, so guests that wait for it to clear neither spin forever nor read torn values.
 * Register D always reports valid RAM.
 *
 * <p>Left out: periodic, alarm and update-ended interrupts (register C always reads 0, B's PIE/AIE/UIE
 * and A's rate bits are stored only), square-wave output, daylight saving (B.DSE), the second CMOS bank at
 * ports 0x72/0x73. Linux copes: it reads the time by polling UIP and emulates update interrupts.
 *
 * <p>Threads: all methods hold the device's monitor.
 */
public final class CmosRtc implements BytePioDevice {
    public static final int BASE = 0x70;
    public static final int INDEX = 0;
    public static final int DATA = 1;
    public static final int PORT_COUNT = 2;
    /** The ISA interrupt of a PC RTC; unused while interrupts are left out. */
    public static final int IRQ = 8;
    public static final int CMOS_SIZE = 128;
    /** First byte of plain battery-backed RAM; below it are the clock's registers. */
    public static final int FIRST_NVRAM = 0x0e;
    /** The century byte the PC (and ACPI's FADT century field) places in CMOS RAM. */
    public static final int CENTURY = 0x32;

    static final int SECONDS = 0x00, MINUTES = 0x02, HOURS = 0x04, DAY_OF_WEEK = 0x06;
    static final int DAY_OF_MONTH = 0x07, MONTH = 0x08, YEAR = 0x09;
    static final int REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d;

    static final int A_UIP = 0x80, A_DV = 0x70, A_DV_RUNNING_MAX = 0x20;
    static final int B_SET = 0x80, B_UIE = 0x10, B_BINARY = 0x04, B_24H = 0x02;
    static final int D_VRT = 0x80;
    static final int INDEX_NMI_DISABLE = 0x80;

    /** 32.768 kHz oscillator, 22 MHz time base, interrupts off; 24-hour BCD: what PC firmware leaves. */
    static final int POWER_ON_A = 0x26, POWER_ON_B = B_24H;

    static final long NANOS_PER_SECOND = 1_000_000_000L;
    /** UIP rises 244 µs (8 cycles of 32.768 kHz) before the registers update. */
    static final long UIP_NANOS = 8 * NANOS_PER_SECOND / 32768;
    /** What the registers can show: years 0000 to 9999 (two-digit year plus century byte). */
    static final long MIN_EPOCH_SECONDS = LocalDateTime.of(0, 1, 1, 0, 0, 0).toEpochSecond(ZoneOffset.UTC);
    static final long MAX_EPOCH_SECONDS = LocalDateTime.of(9999, 12, 31, 23, 59, 59).toEpochSecond(ZoneOffset.UTC);

    private final LongSupplier nanoClock;
    private final byte[] cmos = new byte[CMOS_SIZE];
    private int index;
    private boolean nmiDisabled;
    /** Guest time at host instant {@code hostNanos} while running; the frozen phase while halted. */
    private long seconds;
    private int nanos;
    private long hostNanos;

    /** An RTC showing the host's current UTC time, timed by {@link System#nanoTime()}. */
    public CmosRtc() {
        this(Instant.now().getEpochSecond(), System::nanoTime);
    }

    /**
     * @param epochSeconds the guest time to start from (the platform's choice: UTC is the Linux convention)
     * @param nanoClock    a monotonic nanosecond clock; only differences between its readings are used
     */
    public CmosRtc(long epochSeconds, LongSupplier nanoClock) {
        if (epochSeconds < MIN_EPOCH_SECONDS || epochSeconds > MAX_EPOCH_SECONDS) {
            throw new IllegalArgumentException("epochSeconds " + epochSeconds + " is outside years 0000..9999");
        }
        this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
        cmos[REG_A] = POWER_ON_A;
        cmos[REG_B] = POWER_ON_B;
        cmos[REG_D] = (byte) D_VRT;
        seconds = epochSeconds;
        hostNanos = nanoClock.getAsLong();
    }

    /**
     * Sets a byte of battery-backed RAM before the guest starts (memory size at 0x34/0x35 and 0x5b..0x5d,
     * boot order, ...). The clock's registers and the century byte belong to the clock.
     */
    public synchronized void setNvram(int offset, int value) {
        if (offset < FIRST_NVRAM || offset >= CMOS_SIZE || offset == CENTURY) {
            throw new IllegalArgumentException(String.format("CMOS offset 0x%x is not free RAM", offset));
        }
        if (value < 0 || value > 0xff) {
            throw new IllegalArgumentException("CMOS value " + value + " is not a byte");
        }
        cmos[offset] = (byte) value;
    }

    /** The time the guest's RTC shows now, in epoch seconds. */
    public synchronized long guestEpochSeconds() {
        return running() ? now()[0] : parseTime(cmos, cmos[REG_B]);
    }

    @Override
    public synchronized int readByte(int offset) {
        if (offset != DATA) {
            return 0xff; // the index port is write-only
        }
        if (isTimeRegister(index) && running()) {
            storeTime(cmos, now()[0]);
        }
        return switch (index) {
            case REG_A -> (cmos[REG_A] & 0xff) | (updateInProgress() ? A_UIP : 0);
            case REG_C -> {
                int flags = cmos[REG_C] & 0xff;
                cmos[REG_C] = 0; // reading C acknowledges its flags
                yield flags;
            }
            case REG_D -> D_VRT;
            default -> cmos[index] & 0xff;
        };
    }

    @Override
    public synchronized void writeByte(int offset, int value) {
        value &= 0xff;
        if (offset == INDEX) {
            index = value & 0x7f;
            nmiDisabled = (value & INDEX_NMI_DISABLE) != 0;
            return;
        }
        if (offset != DATA) {
            return;
        }
        switch (index) {
            case REG_A -> writeControl(REG_A, value & ~A_UIP);
            case REG_B -> writeControl(REG_B, (value & B_SET) != 0 ? value & ~B_UIE : value); // SET clears UIE
            case REG_C, REG_D -> { } // read-only
            default -> {
                if (isTimeRegister(index) && running()) {
                    catchUp();
                    storeTime(cmos, seconds);
                    cmos[index] = (byte) value;
                    seconds = parseTime(cmos, cmos[REG_B]);
                } else {
                    cmos[index] = (byte) value;
                }
            }
        }
    }

    /** A snapshot holding the guest's time, not the host's; cannot fail. */
    public synchronized CmosRtcState save() {
        byte[] copy = cmos.clone();
        long epoch;
        int nano;
        if (running()) {
            long[] t = now();
            epoch = t[0];
            nano = (int) t[1];
            storeTime(copy, epoch);
        } else {
            epoch = parseTime(copy, copy[REG_B]);
            nano = nanos;
        }
        return new CmosRtcState(copy, index, nmiDisabled, epoch, nano);
    }

    /**
     * Puts {@code state} back after checking every field; on failure the device is unchanged. A running
     * clock continues from the saved guest time as of this call.
     *
     * @throws InvalidStateException naming the first bad field
     */
    public synchronized void restore(CmosRtcState state) {
        byte[] c = state.cmos();
        require(c != null, "CmosRtcState.cmos", "missing");
        require(c.length == CMOS_SIZE, "CmosRtcState.cmos", c.length + " bytes, expected " + CMOS_SIZE);
        require((c[REG_A] & A_UIP) == 0, "CmosRtcState.cmos", "register A has UIP set; UIP is never stored");
        require(c[REG_C] == 0, "CmosRtcState.cmos", "register C has flags; this model raises none");
        require((c[REG_D] & 0xff) == D_VRT, "CmosRtcState.cmos", "register D must be 0x80 (RAM valid)");
        requireRange("CmosRtcState.index", state.index(), 0, CMOS_SIZE - 1);
        requireRange("CmosRtcState.epochSeconds", state.epochSeconds(), MIN_EPOCH_SECONDS, MAX_EPOCH_SECONDS);
        requireRange("CmosRtcState.nanoOfSecond", state.nanoOfSecond(), 0, NANOS_PER_SECOND - 1);
        System.arraycopy(c, 0, cmos, 0, CMOS_SIZE);
        index = state.index();
        nmiDisabled = state.nmiDisabled();
        seconds = state.epochSeconds();
        nanos = state.nanoOfSecond();
        hostNanos = nanoClock.getAsLong();
    }

    private boolean running() {
        return (cmos[REG_B] & B_SET) == 0 && (cmos[REG_A] & A_DV) <= A_DV_RUNNING_MAX;
    }

    private boolean updateInProgress() {
        return running() && now()[1] >= NANOS_PER_SECOND - UIP_NANOS;
    }

    private static boolean isTimeRegister(int i) {
        return i == SECONDS || i == MINUTES || i == HOURS || i == DAY_OF_WEEK || i == DAY_OF_MONTH
                || i == MONTH || i == YEAR || i == CENTURY;
    }

    /** The running clock's {epoch second, nano of second} now. */
    private long[] now() {
        long total = nanos + (nanoClock.getAsLong() - hostNanos);
        return new long[] {seconds + Math.floorDiv(total, NANOS_PER_SECOND), Math.floorMod(total, NANOS_PER_SECOND)};
    }

    /** Folds the time elapsed into {@link #seconds}/{@link #nanos}, so they hold "now". */
    private void catchUp() {
        long[] t = now();
        seconds = t[0];
        nanos = (int) t[1];
        hostNanos = nanoClock.getAsLong();
    }

    private void writeControl(int reg, int value) {
        boolean wasRunning = running();
        int oldA = cmos[REG_A];
        int oldB = cmos[REG_B];
        if (wasRunning) {
            catchUp();
        }
        cmos[reg] = (byte) value;
        boolean isRunning = running();
        if (wasRunning && !isRunning) {
            storeTime(cmos, seconds); // halt: registers now rule, in the format just selected
        } else if (!wasRunning && isRunning) {
            seconds = parseTime(cmos, oldB); // the guest wrote them in the format in force until now
            if ((oldA & A_DV) > A_DV_RUNNING_MAX) {
                nanos = (int) (NANOS_PER_SECOND / 2);
            }
            hostNanos = nanoClock.getAsLong();
        }
    }

    private static int encode(int value, int regB) {
        return (regB & B_BINARY) != 0 ? value : ((value / 10) << 4) | (value % 10);
    }

    private static int decode(int reg, int regB) {
        reg &= 0xff;
        return (regB & B_BINARY) != 0 ? reg : (reg >> 4) * 10 + (reg & 0x0f);
    }

    /** Writes {@code epochSeconds} into the time registers of {@code c}, in the format c's register B says. */
    private static void storeTime(byte[] c, long epochSeconds) {
        int b = c[REG_B];
        LocalDateTime t = LocalDateTime.ofEpochSecond(epochSeconds, 0, ZoneOffset.UTC);
        c[SECONDS] = (byte) encode(t.getSecond(), b);
        c[MINUTES] = (byte) encode(t.getMinute(), b);
        int hour = t.getHour();
        if ((b & B_24H) != 0) {
            c[HOURS] = (byte) encode(hour, b);
        } else {
            int h12 = hour % 12 == 0 ? 12 : hour % 12;
            c[HOURS] = (byte) (encode(h12, b) | (hour >= 12 ? 0x80 : 0));
        }
        c[DAY_OF_WEEK] = (byte) encode(t.getDayOfWeek().getValue() % 7 + 1, b); // Sunday = 1
        c[DAY_OF_MONTH] = (byte) encode(t.getDayOfMonth(), b);
        c[MONTH] = (byte) encode(t.getMonthValue(), b);
        c[YEAR] = (byte) encode(t.getYear() % 100, b);
        c[CENTURY] = (byte) encode(t.getYear() / 100, b);
    }

    /**
     * Reads the time registers of {@code c} in format {@code regB}. Guests may write nonsense (0x99 as
     * seconds): each field is clamped to its range and day overflow rolls into the next month, so any
     * register contents give a time the registers can show. Day of week is ignored, as by the chip.
     */
    private static long parseTime(byte[] c, int regB) {
        int second = clamp(decode(c[SECONDS], regB), 0, 59);
        int minute = clamp(decode(c[MINUTES], regB), 0, 59);
        int rawHour = c[HOURS] & 0xff;
        int hour;
        if ((regB & B_24H) != 0) {
            hour = clamp(decode(rawHour, regB), 0, 23);
        } else {
            int h12 = clamp(decode(rawHour & 0x7f, regB), 1, 12);
            hour = h12 % 12 + ((rawHour & 0x80) != 0 ? 12 : 0);
        }
        int day = clamp(decode(c[DAY_OF_MONTH], regB), 1, 31);
        int month = clamp(decode(c[MONTH], regB), 1, 12);
        int year = clamp(decode(c[CENTURY], regB), 0, 99) * 100 + clamp(decode(c[YEAR], regB), 0, 99);
        LocalDateTime t = LocalDate.of(year, month, 1).plusDays(day - 1).atTime(hour, minute, second);
        return Math.min(t.toEpochSecond(ZoneOffset.UTC), MAX_EPOCH_SECONDS);
    }

    private static int clamp(int v, int min, int max) {
        return Math.max(min, Math.min(max, v));
    }
}
