package dev.stasis.devices.uart;

import dev.stasis.devices.BytePioDevice;
import dev.stasis.devices.IrqLine;
import dev.stasis.devices.InvalidStateException;

import java.io.IOException;
import java.io.OutputStream;
import java.util.Objects;
import java.util.function.IntConsumer;

import static dev.stasis.devices.InvalidStateException.require;
import static dev.stasis.devices.InvalidStateException.requireRange;

/**
 * A 16550A UART behaving as QEMU's hw/char/serial.c does, without its timers.
 *
 * <p>Registers, by offset from the base port (8 ports): 0 RBR (read) / THR (write), or DLL when LCR.DLAB;
 * 1 IER, or DLM when LCR.DLAB; 2 IIR (read) / FCR (write); 3 LCR; 4 MCR; 5 LSR; 6 MSR; 7 SCR.
 *
 * <p>Simplifications, each invisible to a guest that follows the data sheet:
 * <ul>
 *   <li>Transmission is instantaneous: a THR write goes straight to the sink, THRE and TEMT are always set,
 *       and the THR-empty interrupt is re-armed at once. Baud rate and line format are stored, not applied.</li>
 *   <li>There is no character timer. Data below the FIFO trigger level reports the character-timeout
 *       interrupt (IIR 0xcc) at once instead of four character times later; Linux treats both alike.</li>
 *   <li>A full receiver drops the <em>new</em> byte and sets LSR.OE, with the FIFO enabled or not (the real
 *       chip without FIFO overwrites RBR instead). Reading an empty receiver returns 0.</li>
 *   <li>The modem inputs are a permanently connected line (DCD, DSR, CTS asserted, RI not) unless MCR
 *       loopback routes the outputs to them; MCR.OUT2 does not gate the interrupt, as in QEMU.</li>
 *   <li>No break, parity or framing errors are ever received.</li>
 * </ul>
 *
 * <p>Threads: vCPU threads call the register methods, an input thread calls {@link #receive}; every method
 * holds the device's monitor. The transmit sink and the {@link IrqLine} are called with the monitor held
 * (that keeps bytes and line levels in order across vCPUs), so neither may call back into this UART.
 */
public final class Uart16550 implements BytePioDevice {
    /** Conventional PC placement; the platform decides, these are only names for it to use. */
    public static final int COM1_BASE = 0x3f8;
    public static final int COM1_IRQ = 4;
    public static final int COM2_BASE = 0x2f8;
    public static final int COM2_IRQ = 3;
    /** Ports the device decodes from its base. */
    public static final int PORT_COUNT = 8;
    public static final int FIFO_SIZE = 16;

    static final int RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

    static final int IER_RDI = 0x01, IER_THRI = 0x02, IER_RLSI = 0x04, IER_MSI = 0x08;

    static final int IIR_NO_INT = 0x01, IIR_MSI = 0x00, IIR_THRI = 0x02, IIR_RDI = 0x04, IIR_RLSI = 0x06;
    static final int IIR_CTI = 0x0c, IIR_FIFO_ENABLED = 0xc0;

    static final int FCR_FE = 0x01, FCR_RFR = 0x02, FCR_XFR = 0x04, FCR_STICKY = 0xc9;

    static final int LCR_DLAB = 0x80;

    static final int MCR_DTR = 0x01, MCR_RTS = 0x02, MCR_OUT1 = 0x04, MCR_OUT2 = 0x08, MCR_LOOP = 0x10;

    static final int LSR_DR = 0x01, LSR_OE = 0x02, LSR_BI = 0x10, LSR_THRE = 0x20, LSR_TEMT = 0x40;
    /** OE, PE, FE, BI: the conditions behind the line-status interrupt. */
    static final int LSR_ERRORS = 0x1e;

    static final int MSR_DCTS = 0x01, MSR_DDSR = 0x02, MSR_TERI = 0x04, MSR_DDCD = 0x08, MSR_DELTAS = 0x0f;
    static final int MSR_CTS = 0x10, MSR_DSR = 0x20, MSR_RI = 0x40, MSR_DCD = 0x80;
    /** What the other end of the (virtual) cable shows: carrier, data set ready, clear to send. */
    static final int LINE_INPUTS = MSR_DCD | MSR_DSR | MSR_CTS;

    private final IrqLine irq;
    private final IntConsumer tx;

    private int divisor, ier, lcr, mcr, lsr, msr, scr, fcr;
    private boolean thrPending;
    /** RX FIFO as a ring; with the FIFO disabled it holds at most one byte (the RBR). */
    private final byte[] rx = new byte[FIFO_SIZE];
    private int rxHead, rxCount;
    /** Last level driven onto {@link #irq}; derived, so not part of the state. */
    private boolean irqLevel;

    /**
     * @param irq the interrupt line (COM1: {@link #COM1_IRQ}), or {@link IrqLine#NONE}
     * @param tx  receives each transmitted byte (0..255) in order; called with the device lock held
     */
    public Uart16550(IrqLine irq, IntConsumer tx) {
        this.irq = Objects.requireNonNull(irq, "irq");
        this.tx = Objects.requireNonNull(tx, "tx");
        apply(UartState.POWER_ON);
    }

    /**
     * Transmits into {@code out}, flushing after every byte. A byte the stream refuses is lost, as on a
     * serial line nobody listens to: a guest has no way to learn of a host I/O error.
     */
    public Uart16550(IrqLine irq, OutputStream out) {
        this(irq, byteTo(Objects.requireNonNull(out, "out")));
    }

    private static IntConsumer byteTo(OutputStream out) {
        return b -> {
            try {
                out.write(b);
                out.flush();
            } catch (IOException lost) {
                // See the constructor: dropped like a character on a disconnected line.
            }
        };
    }

    @Override
    public synchronized int readByte(int offset) {
        int value = switch (offset) {
            case RBR_THR -> dlab() ? divisor & 0xff : popRx();
            case IER -> dlab() ? divisor >>> 8 : ier;
            case IIR_FCR -> readIir();
            case LCR -> lcr;
            case MCR -> mcr;
            case LSR -> readLsr();
            case MSR -> readMsr();
            case SCR -> scr;
            default -> 0xff;
        };
        updateIrq();
        return value;
    }

    @Override
    public synchronized void writeByte(int offset, int value) {
        value &= 0xff;
        switch (offset) {
            case RBR_THR -> {
                if (dlab()) {
                    divisor = (divisor & 0xff00) | value;
                } else {
                    transmit(value);
                }
            }
            case IER -> {
                if (dlab()) {
                    divisor = (divisor & 0x00ff) | (value << 8);
                } else {
                    writeIer(value);
                }
            }
            case IIR_FCR -> writeFcr(value);
            case LCR -> lcr = value;
            case MCR -> writeMcr(value);
            case SCR -> scr = value;
            default -> { } // LSR and MSR are read-only; others are not ours
        }
        updateIrq();
    }

    /** Like {@link #receive(byte[], int, int)} for one byte; true if it was accepted. */
    public boolean receive(int b) {
        return receive(new byte[] {(byte) b}, 0, 1) == 1;
    }

    public int receive(byte[] data) {
        return receive(data, 0, data.length);
    }

    /**
     * Bytes arriving on the line, for the guest to read. Returns how many were accepted into the receiver;
     * the rest are lost and, as on the real chip, set LSR.OE. A caller that must not lose input offers at
     * most {@link #rxFree()} bytes and offers the rest later. In loopback mode the receiver is disconnected
     * from the line and accepts nothing.
     */
    public synchronized int receive(byte[] data, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, data.length);
        int accepted = 0;
        if (!loopback()) {
            for (int i = 0; i < length; i++) {
                if (pushRx(data[offset + i])) {
                    accepted++;
                }
            }
        }
        updateIrq();
        return accepted;
    }

    /** How many bytes {@link #receive} would accept now without overrun. */
    public synchronized int rxFree() {
        return loopback() ? 0 : rxCapacity() - rxCount;
    }

    /** A snapshot of every register and the RX FIFO; cannot fail. */
    public synchronized UartState save() {
        byte[] fifo = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) {
            fifo[i] = rx[(rxHead + i) % FIFO_SIZE];
        }
        return new UartState(divisor, ier, lcr, mcr, lsr, msr, scr, fcr, thrPending, fifo);
    }

    /**
     * Puts {@code state} back after checking every field (it may come from a hostile snapshot); on failure
     * the device is unchanged. Drives the interrupt line to the restored level.
     *
     * @throws InvalidStateException naming the first bad field
     */
    public synchronized void restore(UartState state) {
        validate(state);
        apply(state);
        irqLevel = interruptId() != IIR_NO_INT;
        irq.set(irqLevel);
    }

    /** Back to the power-on state (guest reboot), lowering the interrupt line. */
    public void reset() {
        restore(UartState.POWER_ON);
    }

    private static void validate(UartState s) {
        requireRange("UartState.divisor", s.divisor(), 0, 0xffff);
        requireRange("UartState.ier", s.ier(), 0, 0x0f);
        requireRange("UartState.lcr", s.lcr(), 0, 0xff);
        requireRange("UartState.mcr", s.mcr(), 0, 0x1f);
        requireRange("UartState.lsr", s.lsr(), 0, 0xff);
        requireRange("UartState.msr", s.msr(), 0, 0xff);
        requireRange("UartState.scr", s.scr(), 0, 0xff);
        requireRange("UartState.fcr", s.fcr(), 0, 0xff);
        require((s.fcr() & ~FCR_STICKY) == 0, "UartState.fcr",
                String.format("0x%x has bits outside 0x%x", s.fcr(), FCR_STICKY));
        byte[] fifo = s.rxFifo();
        require(fifo != null, "UartState.rxFifo", "missing");
        int capacity = (s.fcr() & FCR_FE) != 0 ? FIFO_SIZE : 1;
        require(fifo.length <= capacity, "UartState.rxFifo",
                fifo.length + " bytes exceed the receiver's " + capacity);
        require(((s.lsr() & LSR_DR) != 0) == (fifo.length > 0), "UartState.lsr",
                "DR must be set exactly when rxFifo holds data");
        require((s.lsr() & (LSR_THRE | LSR_TEMT)) == (LSR_THRE | LSR_TEMT), "UartState.lsr",
                "THRE and TEMT must be set (the transmitter is always empty)");
        require((s.msr() & ~MSR_DELTAS) == modemInputs(s.mcr()), "UartState.msr",
                String.format("inputs 0x%x do not match MCR 0x%x (expected 0x%x)",
                        s.msr() & ~MSR_DELTAS, s.mcr(), modemInputs(s.mcr())));
    }

    private void apply(UartState s) {
        divisor = s.divisor();
        ier = s.ier();
        lcr = s.lcr();
        mcr = s.mcr();
        lsr = s.lsr();
        msr = s.msr();
        scr = s.scr();
        fcr = s.fcr();
        thrPending = s.thrInterruptPending();
        byte[] fifo = s.rxFifo();
        System.arraycopy(fifo, 0, rx, 0, fifo.length);
        rxHead = 0;
        rxCount = fifo.length;
    }

    private boolean dlab() {
        return (lcr & LCR_DLAB) != 0;
    }

    private boolean loopback() {
        return (mcr & MCR_LOOP) != 0;
    }

    private boolean fifoEnabled() {
        return (fcr & FCR_FE) != 0;
    }

    private int rxCapacity() {
        return fifoEnabled() ? FIFO_SIZE : 1;
    }

    private int triggerLevel() {
        return switch (fcr >>> 6) {
            case 0 -> 1;
            case 1 -> 4;
            case 2 -> 8;
            default -> 14;
        };
    }

    private void transmit(int value) {
        thrPending = false;
        if (loopback()) {
            pushRx((byte) value);
        } else {
            tx.accept(value);
        }
        // The byte left at once: THR and shift register are empty again, and THRE re-arms its interrupt.
        lsr |= LSR_THRE | LSR_TEMT;
        thrPending = true;
    }

    private void writeIer(int value) {
        int changed = (ier ^ value) & 0x0f;
        ier = value & 0x0f;
        // Enabling THRI while THR is empty raises it even if it was acknowledged before: not in the data
        // sheet, but real chips do it and Windows relies on it (QEMU serial.c).
        if ((changed & IER_THRI) != 0) {
            thrPending = (ier & IER_THRI) != 0 && (lsr & LSR_THRE) != 0;
        }
    }

    private void writeFcr(int value) {
        // Toggling the enable bit flushes both FIFOs, as on the chip.
        if (((value ^ fcr) & FCR_FE) != 0) {
            value |= FCR_RFR | FCR_XFR;
        }
        if ((value & FCR_RFR) != 0) {
            rxHead = 0;
            rxCount = 0;
            lsr &= ~(LSR_DR | LSR_BI);
        }
        if ((value & FCR_XFR) != 0) {
            lsr |= LSR_THRE;
            thrPending = true;
        }
        fcr = value & FCR_STICKY;
    }

    private void writeMcr(int value) {
        int oldInputs = msr & ~MSR_DELTAS;
        mcr = value & 0x1f;
        int newInputs = modemInputs(mcr);
        int changed = oldInputs ^ newInputs;
        int deltas = 0;
        if ((changed & MSR_CTS) != 0) {
            deltas |= MSR_DCTS;
        }
        if ((changed & MSR_DSR) != 0) {
            deltas |= MSR_DDSR;
        }
        if ((oldInputs & MSR_RI) != 0 && (newInputs & MSR_RI) == 0) {
            deltas |= MSR_TERI; // trailing edge of ring only
        }
        if ((changed & MSR_DCD) != 0) {
            deltas |= MSR_DDCD;
        }
        msr = newInputs | (msr & MSR_DELTAS) | deltas;
    }

    /** In loopback DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD; otherwise the line's fixed inputs. */
    static int modemInputs(int mcr) {
        if ((mcr & MCR_LOOP) == 0) {
            return LINE_INPUTS;
        }
        return ((mcr & (MCR_OUT1 | MCR_OUT2)) << 4) | ((mcr & MCR_RTS) << 3) | ((mcr & MCR_DTR) << 5);
    }

    private int readIir() {
        int id = interruptId();
        if (id == IIR_THRI) {
            thrPending = false; // reading IIR acknowledges THRE when it is the reported source
        }
        return id | (fifoEnabled() ? IIR_FIFO_ENABLED : 0);
    }

    private int readLsr() {
        int value = lsr;
        lsr &= ~(LSR_OE | LSR_BI); // error bits clear on read
        return value;
    }

    private int readMsr() {
        int value = msr;
        msr &= ~MSR_DELTAS;
        return value;
    }

    private int popRx() {
        if (rxCount == 0) {
            return 0;
        }
        int value = rx[rxHead] & 0xff;
        rxHead = (rxHead + 1) % FIFO_SIZE;
        if (--rxCount == 0) {
            lsr &= ~(LSR_DR | LSR_BI);
        }
        return value;
    }

    /** Queues one received byte; when full the byte is dropped and OE set. */
    private boolean pushRx(byte b) {
        if (rxCount == rxCapacity()) {
            lsr |= LSR_OE;
            return false;
        }
        rx[(rxHead + rxCount) % FIFO_SIZE] = b;
        rxCount++;
        lsr |= LSR_DR;
        return true;
    }

    /** The pending interrupt of highest priority, as the chip ranks them, or IIR_NO_INT. */
    private int interruptId() {
        if ((ier & IER_RLSI) != 0 && (lsr & LSR_ERRORS) != 0) {
            return IIR_RLSI;
        }
        if ((ier & IER_RDI) != 0 && rxCount > 0) {
            return fifoEnabled() && rxCount < triggerLevel() ? IIR_CTI : IIR_RDI;
        }
        if ((ier & IER_THRI) != 0 && thrPending) {
            return IIR_THRI;
        }
        if ((ier & IER_MSI) != 0 && (msr & MSR_DELTAS) != 0) {
            return IIR_MSI;
        }
        return IIR_NO_INT;
    }

    /** Drives the line only on a change: each level change is an ioctl for the platform. */
    private void updateIrq() {
        boolean level = interruptId() != IIR_NO_INT;
        if (level != irqLevel) {
            irqLevel = level;
            irq.set(level);
        }
    }
}
