package dev.stasis.devices.uart;

import dev.stasis.devices.InvalidStateException;
import dev.stasis.devices.IrqLine;
import dev.stasis.devices.RecordingIrqLine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.UnaryOperator;

import static dev.stasis.devices.uart.Uart16550.*;
import static org.junit.jupiter.api.Assertions.*;

class Uart16550Test {
    private final RecordingIrqLine irq = new RecordingIrqLine();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private Uart16550 uart;

    @BeforeEach
    void setUp() {
        uart = new Uart16550(irq, out);
    }

    private int in(int reg) {
        return uart.read(reg, 1);
    }

    private void out(int reg, int value) {
        uart.write(reg, 1, value);
    }

    @Test
    void powerOnRegistersMatchQemuReset() {
        assertEquals(0x01, in(IIR_FCR), "no interrupt, FIFO off");
        assertEquals(LSR_THRE | LSR_TEMT, in(LSR));
        assertEquals(MCR_OUT2, in(MCR));
        assertEquals(0xb0, in(MSR), "DCD, DSR, CTS asserted");
        assertEquals(0, in(IER));
        assertEquals(List.of(), irq.levels());
    }

    @Test
    void dlabSwitchesOffsetsZeroAndOneToTheDivisorLatch() {
        out(IER, 0x05);
        out(LCR, 0x83);
        out(RBR_THR, 0x01);
        out(IER, 0x02);
        assertEquals(0x01, in(RBR_THR));
        assertEquals(0x02, in(IER));
        assertEquals(0, out.size(), "a DLL write is not transmitted");
        out(LCR, 0x03);
        assertEquals(0x05, in(IER), "IER kept its value behind the latch");
        assertEquals(0x0201, uart.save().divisor());
        out(RBR_THR, 'x');
        assertEquals("x", out.toString(StandardCharsets.US_ASCII));
    }

    @Test
    void wideAccessIsSplitIntoBytesLowestFirst() {
        out(LCR, 0x80);
        uart.write(RBR_THR, 2, 0x1234);
        assertEquals(0x1234, uart.save().divisor());
        assertEquals(0x1234, uart.read(RBR_THR, 2));
    }

    @Test
    void transmitGoesStraightToTheSinkAndLeavesTheTransmitterEmpty() {
        for (byte b : "hello\n".getBytes(StandardCharsets.US_ASCII)) {
            out(RBR_THR, b);
            assertEquals(LSR_THRE | LSR_TEMT, in(LSR) & (LSR_THRE | LSR_TEMT));
        }
        assertEquals("hello\n", out.toString(StandardCharsets.US_ASCII));
    }

    @Test
    void intConsumerSinkSeesUnsignedBytes() {
        var seen = new java.util.ArrayList<Integer>();
        var u = new Uart16550(IrqLine.NONE, seen::add);
        u.write(RBR_THR, 1, 0xff);
        u.write(RBR_THR, 1, 0x00);
        assertEquals(List.of(0xff, 0x00), seen);
    }

    @Test
    void thrEmptyInterruptRaisesOnEnableClearsOnIirReadAndRearmsOnWrite() {
        out(IER, IER_THRI);
        assertTrue(irq.level());
        assertEquals(IIR_THRI, in(IIR_FCR), "reading IIR reports THRE ...");
        assertFalse(irq.level(), "... and acknowledges it");
        assertEquals(IIR_NO_INT, in(IIR_FCR));
        out(RBR_THR, 'a');
        assertTrue(irq.level(), "THR empty again after the write");
        out(IER, 0);
        assertFalse(irq.level());
        assertEquals(List.of(true, false, true, false), irq.levels());
    }

    @Test
    void reEnablingThriRaisesItEvenAfterAcknowledge() {
        out(IER, IER_THRI);
        in(IIR_FCR);
        assertFalse(irq.level());
        out(IER, 0);
        out(IER, IER_THRI);
        assertTrue(irq.level(), "Windows-style IER toggle re-raises THRE");
    }

    @Test
    void receivedDataRaisesRdiAndReadingDrainsIt() {
        out(IER, IER_RDI);
        assertFalse(irq.level());
        assertTrue(uart.receive('k'));
        assertTrue(irq.level());
        assertEquals(IIR_RDI, in(IIR_FCR));
        assertEquals(LSR_DR, in(LSR) & LSR_DR);
        assertEquals('k', in(RBR_THR));
        assertEquals(0, in(LSR) & LSR_DR);
        assertFalse(irq.level());
        assertEquals(List.of(true, false), irq.levels());
    }

    @Test
    void withoutFifoASecondByteOverrunsAndRaisesLineStatus() {
        out(IER, IER_RDI | IER_RLSI);
        assertEquals(1, uart.rxFree());
        assertEquals(1, uart.receive(new byte[] {'a', 'b'}));
        assertEquals(IIR_RLSI, in(IIR_FCR), "line status outranks received data");
        int lsr = in(LSR);
        assertEquals(LSR_OE | LSR_DR, lsr & (LSR_OE | LSR_DR));
        assertEquals(0, in(LSR) & LSR_OE, "OE clears on read");
        assertEquals(IIR_RDI, in(IIR_FCR));
        assertEquals('a', in(RBR_THR), "the old byte is kept, the new one dropped");
        assertEquals(IIR_NO_INT, in(IIR_FCR));
    }

    @Test
    void fifoFillsToSixteenThenOverrunsAndDrainsInOrder() {
        out(IIR_FCR, FCR_FE);
        assertEquals(IIR_FIFO_ENABLED | IIR_NO_INT, in(IIR_FCR));
        byte[] data = new byte[20];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (0x40 + i);
        }
        assertEquals(16, uart.rxFree());
        assertEquals(16, uart.receive(data), "four bytes dropped");
        assertEquals(0, uart.rxFree());
        assertEquals(LSR_OE | LSR_DR, in(LSR) & (LSR_OE | LSR_DR));
        for (int i = 0; i < 16; i++) {
            assertEquals(0x40 + i, in(RBR_THR));
        }
        assertEquals(0, in(LSR) & LSR_DR);
        assertEquals(0, in(RBR_THR), "empty receiver reads 0");
    }

    @Test
    void fifoBelowTriggerReportsTimeoutAtOrAboveReportsDataAvailable() {
        out(IIR_FCR, 0x81); // enable, trigger level 8
        out(IER, IER_RDI);
        uart.receive(new byte[7]);
        assertEquals(IIR_FIFO_ENABLED | IIR_CTI, in(IIR_FCR));
        assertTrue(irq.level(), "data present interrupts even below the trigger level");
        uart.receive(0);
        assertEquals(IIR_FIFO_ENABLED | IIR_RDI, in(IIR_FCR));
    }

    @Test
    void fcrResetAndToggleFlushTheReceiver() {
        out(IIR_FCR, FCR_FE);
        uart.receive(new byte[] {1, 2, 3});
        out(IIR_FCR, FCR_FE | FCR_RFR);
        assertEquals(0, in(LSR) & LSR_DR);
        assertEquals(FCR_FE, uart.save().fcr(), "reset bits do not stick");
        uart.receive(new byte[] {4, 5});
        out(IIR_FCR, 0);
        assertEquals(0, in(LSR) & LSR_DR, "disabling the FIFO flushes it");
        assertEquals(IIR_NO_INT, in(IIR_FCR), "FIFO bits gone from IIR");
    }

    @Test
    void priorityIsLineStatusThenDataThenThreThenModem() {
        out(MCR, MCR_LOOP);                  // inputs drop: modem deltas pending
        out(IER, 0x0f);
        assertEquals(IIR_THRI, in(IIR_FCR)); // THRE outranks modem status; this read acknowledges it
        assertEquals(IIR_MSI, in(IIR_FCR));
        out(RBR_THR, 'z');                   // loopback: received, and THRE re-armed
        out(RBR_THR, 'y');                   // overrun
        assertEquals(IIR_RLSI, in(IIR_FCR));
        in(LSR);
        assertEquals(IIR_RDI, in(IIR_FCR));
        in(RBR_THR);
        assertEquals(IIR_THRI, in(IIR_FCR));
        assertEquals(IIR_MSI, in(IIR_FCR));
        in(MSR);
        assertEquals(IIR_NO_INT, in(IIR_FCR));
        assertFalse(irq.level());
    }

    @Test
    void loopbackEchoesTransmitAndMapsModemLines() {
        out(MCR, MCR_LOOP | MCR_RTS | MCR_OUT2); // what Linux's autoconfig writes
        assertEquals(0x90, in(MSR) & 0xf0, "CTS and DCD from RTS and OUT2");
        out(RBR_THR, 0x5a);
        assertEquals(0, out.size(), "nothing leaves the chip in loopback");
        assertEquals(0x5a, in(RBR_THR));
        assertEquals(0, uart.rxFree(), "the line is disconnected");
        assertFalse(uart.receive('q'));
        out(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
        int msr = in(MSR);
        assertEquals(MSR_DSR | MSR_RI, msr & 0xf0);
        assertEquals(MSR_DCTS | MSR_DDSR | MSR_DDCD, msr & MSR_DELTAS);
        out(MCR, MCR_LOOP);
        assertEquals(MSR_TERI | MSR_DDSR, in(MSR) & MSR_DELTAS, "ring's trailing edge");
        out(MCR, MCR_OUT2);
        assertEquals(LINE_INPUTS, in(MSR) & 0xf0);
        out(RBR_THR, 'o');
        assertEquals("o", out.toString(StandardCharsets.US_ASCII));
    }

    @Test
    void modemStatusInterruptClearsOnMsrRead() {
        out(IER, IER_MSI);
        out(MCR, MCR_LOOP);
        assertTrue(irq.level());
        assertEquals(IIR_MSI, in(IIR_FCR));
        in(MSR);
        assertFalse(irq.level());
    }

    @Test
    void scratchAndLcrHoldValues() {
        out(SCR, 0xa5);
        out(LCR, 0x1b);
        assertEquals(0xa5, in(SCR));
        assertEquals(0x1b, in(LCR));
        out(LSR, 0);
        assertEquals(LSR_THRE | LSR_TEMT, in(LSR), "LSR ignores writes");
    }

    /** Brings the UART into a busy state: FIFO data, divisor, interrupts pending. */
    private void makeBusy(Uart16550 u) {
        u.write(LCR, 1, 0x80);
        u.write(RBR_THR, 1, 0x03);
        u.write(LCR, 1, 0x1b);
        u.write(IIR_FCR, 1, 0xc1);
        u.write(IER, 1, 0x0f);
        u.write(SCR, 1, 0x42);
        u.receive(new byte[] {10, 20, 30});
        u.read(RBR_THR, 1);
        u.write(MCR, 1, MCR_DTR | MCR_OUT2);
    }

    @Test
    void saveRestoreIntoAFreshDeviceGivesIdenticalStateAndBehaviour() {
        makeBusy(uart);
        UartState saved = uart.save();

        RecordingIrqLine irq2 = new RecordingIrqLine();
        ByteArrayOutputStream out2 = new ByteArrayOutputStream();
        Uart16550 copy = new Uart16550(irq2, out2);
        copy.restore(saved);
        assertEquals(saved, copy.save());
        assertEquals(irq.level(), irq2.level(), "restore drives the line");
        assertTrue(irq2.level());

        // Same script against both: every read must agree.
        int[][] script = {{2}, {5}, {0}, {2}, {0}, {2}, {6}, {2}, {1}, {3}, {7}, {4}};
        for (int[] step : script) {
            assertEquals(uart.read(step[0], 1), copy.read(step[0], 1), "register " + step[0]);
        }
        uart.write(RBR_THR, 1, 'w');
        copy.write(RBR_THR, 1, 'w');
        assertEquals(out.toString(StandardCharsets.US_ASCII), out2.toString(StandardCharsets.US_ASCII));
        assertEquals(uart.save(), copy.save());
        assertEquals(irq.level(), irq2.level());
    }

    @Test
    void savedStateIsACopy() {
        uart.receive('a');
        UartState s = uart.save();
        s.rxFifo()[0] = 'b';
        assertArrayEquals(new byte[] {'a'}, s.rxFifo());
        assertEquals('a', in(RBR_THR));
        assertArrayEquals(new byte[] {'a'}, s.rxFifo(), "reading the device does not change the record");
    }

    @Test
    void resetReturnsToPowerOnAndLowersTheLine() {
        makeBusy(uart);
        uart.reset();
        assertEquals(UartState.POWER_ON, uart.save());
        assertFalse(irq.level());
    }

    private static UartState with(UnaryOperator<Object[]> edit) {
        UartState p = UartState.POWER_ON;
        Object[] f = {p.divisor(), p.ier(), p.lcr(), p.mcr(), p.lsr(), p.msr(), p.scr(), p.fcr(),
                p.thrInterruptPending(), p.rxFifo()};
        f = edit.apply(f);
        return new UartState((int) f[0], (int) f[1], (int) f[2], (int) f[3], (int) f[4], (int) f[5], (int) f[6],
                (int) f[7], (boolean) f[8], (byte[]) f[9]);
    }

    private void assertRejected(String field, UartState bad) {
        UartState before = uart.save();
        InvalidStateException e = assertThrows(InvalidStateException.class, () -> uart.restore(bad));
        assertEquals(field, e.field(), e.getMessage());
        assertTrue(e.getMessage().contains(field));
        assertEquals(before, uart.save(), "a rejected restore changes nothing");
    }

    @Test
    void restoreRejectsOutOfRangeAndInconsistentState() {
        uart.receive('x');
        assertRejected("UartState.divisor", with(f -> { f[0] = 0x10000; return f; }));
        assertRejected("UartState.ier", with(f -> { f[1] = 0x10; return f; }));
        assertRejected("UartState.lcr", with(f -> { f[2] = -1; return f; }));
        assertRejected("UartState.mcr", with(f -> { f[3] = 0x20; return f; }));
        assertRejected("UartState.scr", with(f -> { f[6] = 256; return f; }));
        assertRejected("UartState.fcr", with(f -> { f[7] = 0x02; return f; }));
        assertRejected("UartState.rxFifo", with(f -> { f[9] = null; return f; }));
        assertRejected("UartState.rxFifo", with(f -> { f[7] = 0x01; f[4] = 0x61; f[9] = new byte[17]; return f; }));
        assertRejected("UartState.rxFifo", with(f -> { f[4] = 0x61; f[9] = new byte[2]; return f; }));
        assertRejected("UartState.lsr", with(f -> { f[9] = new byte[1]; return f; }));
        assertRejected("UartState.lsr", with(f -> { f[4] = 0x61; return f; }));
        assertRejected("UartState.lsr", with(f -> { f[4] = 0x40; return f; }));
        assertRejected("UartState.msr", with(f -> { f[5] = 0x00; return f; }));
        assertRejected("UartState.msr", with(f -> { f[5] = 0x1b0; return f; }));
    }

    @Test
    void concurrentWritersAndReceiverKeepTheFifoConsistent() throws Exception {
        out(IIR_FCR, FCR_FE);
        Thread writer = new Thread(() -> {
            for (int i = 0; i < 10_000; i++) {
                uart.write(RBR_THR, 1, 'a');
            }
        });
        Thread receiver = new Thread(() -> {
            for (int i = 0; i < 10_000; i++) {
                uart.receive(i);
                uart.read(RBR_THR, 1);
            }
        });
        writer.start();
        receiver.start();
        writer.join();
        receiver.join();
        assertEquals(10_000, out.size());
        UartState s = uart.save();
        assertEquals(s.rxFifo().length > 0, (s.lsr() & LSR_DR) != 0);
        uart.restore(s); // the invariants restore checks still hold
    }
}
