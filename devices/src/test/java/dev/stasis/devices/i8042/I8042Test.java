package dev.stasis.devices.i8042;

import dev.stasis.devices.InvalidStateException;
import dev.stasis.devices.RecordingIrqLine;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.stasis.devices.i8042.I8042.*;
import static org.junit.jupiter.api.Assertions.*;

class I8042Test {
    private final AtomicInteger resets = new AtomicInteger();
    private final RecordingIrqLine kbd = new RecordingIrqLine();
    private final RecordingIrqLine aux = new RecordingIrqLine();
    private final I8042 kbc = new I8042(resets::incrementAndGet, kbd, aux);

    private int status() {
        return kbc.read(STATUS_COMMAND, 1);
    }

    private void command(int cmd) {
        kbc.write(STATUS_COMMAND, 1, cmd);
    }

    private int data() {
        return kbc.read(DATA, 1);
    }

    @Test
    void statusAtPowerOnHasEmptyOutputBufferAndSystemFlag() {
        int s = status();
        assertEquals(0, s & STATUS_OBF, "nothing to read: a polling guest must not wait");
        assertEquals(STATUS_SYS, s & STATUS_SYS);
        assertEquals(0, s & 0x02, "input buffer never full: commands are taken at once");
    }

    @Test
    void resetCommandRequestsResetOnce() {
        command(0xfe);
        assertEquals(1, resets.get());
    }

    @Test
    void evenPulseCommandsResetOddOnesDoNot() {
        command(0xff);
        command(0xf1);
        assertEquals(0, resets.get());
        command(0xf0);
        assertEquals(1, resets.get());
    }

    @Test
    void writingOutputPortWithResetBitLowRequestsReset() {
        command(0xd1);
        kbc.write(DATA, 1, OUT_RESET | OUT_A20);
        assertEquals(0, resets.get());
        command(0xd1);
        kbc.write(DATA, 1, OUT_A20);
        assertEquals(1, resets.get());
        command(0xd0);
        assertEquals(OUT_A20, data());
    }

    @Test
    void resetRunnableRunsWithoutTheDeviceLockHeld() throws Exception {
        var holder = new I8042[1];
        var otherThreadRead = new AtomicInteger(-1);
        holder[0] = new I8042(() -> {
            Thread t = new Thread(() -> otherThreadRead.set(holder[0].read(STATUS_COMMAND, 1)));
            t.start();
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        });
        holder[0].write(STATUS_COMMAND, 1, 0xfe);
        assertNotEquals(-1, otherThreadRead.get(), "another vCPU could use the device during the request");
    }

    @Test
    void selfTestAnswers0x55() {
        command(0xaa);
        assertEquals(STATUS_OBF, status() & STATUS_OBF);
        assertEquals(0x55, data());
        assertEquals(0, status() & STATUS_OBF, "read empties the buffer");
    }

    @Test
    void commandByteReadAndWrite() {
        command(0x20);
        assertEquals(CTR_KBD_INT | CTR_SYS, data());
        command(0x60);
        assertEquals(STATUS_CMD, status() & STATUS_CMD);
        kbc.write(DATA, 1, 0x45);
        assertEquals(0, status() & STATUS_CMD, "last write went to the data port");
        command(0x20);
        assertEquals(0x45, data());
        command(0xad);
        command(0xa7);
        command(0x20);
        assertEquals(0x45 | CTR_KBD_DISABLE | CTR_AUX_DISABLE, data());
        command(0xae);
        command(0xa8);
        command(0x20);
        assertEquals(0x45, data());
    }

    @Test
    void systemFlagFollowsCommandByte() {
        command(0x60);
        kbc.write(DATA, 1, 0x00);
        assertEquals(0, status() & STATUS_SYS);
        command(0xaa);
        assertEquals(STATUS_SYS, status() & STATUS_SYS, "self-test sets it again");
    }

    @Test
    void absentKeyboardNeverAnswersAndUnknownCommandsAreHarmless() {
        kbc.write(DATA, 1, 0xff); // keyboard reset, to nobody
        kbc.write(DATA, 1, 0xf2); // identify
        command(0xd4);
        kbc.write(DATA, 1, 0xf4); // to the absent mouse
        command(0x12);
        command(0xc8);
        assertEquals(0, status() & STATUS_OBF);
        assertEquals(0, resets.get());
        assertEquals(List.of(), kbd.levels());
    }

    @Test
    void auxEchoSetsAuxFlagAndAuxInterrupt() {
        command(0x60);
        kbc.write(DATA, 1, CTR_KBD_INT | CTR_AUX_INT | CTR_SYS);
        command(0xd3);
        kbc.write(DATA, 1, 0x5a);
        assertEquals(STATUS_OBF | STATUS_AUX_OBF, status() & (STATUS_OBF | STATUS_AUX_OBF));
        assertTrue(aux.level());
        assertFalse(kbd.level());
        assertEquals(0x5a, data());
        assertFalse(aux.level());
        assertEquals(List.of(true, false), aux.levels());
    }

    @Test
    void keyboardInterruptFollowsOutputBufferWhenEnabled() {
        command(0xab);
        assertTrue(kbd.level());
        assertEquals(0x00, data());
        assertFalse(kbd.level());
        command(0x60);
        kbc.write(DATA, 1, CTR_SYS); // interrupts off
        command(0xd2);
        kbc.write(DATA, 1, 0x1c);
        assertFalse(kbd.level());
        assertEquals(0x1c, data());
        assertEquals(List.of(true, false), kbd.levels());
    }

    @Test
    void offsetsOneToThreeAreNotDecoded() {
        assertEquals(0xff, kbc.read(1, 1));
        kbc.write(3, 1, 0xfe);
        assertEquals(0, resets.get());
        assertEquals(I8042State.POWER_ON, kbc.save());
    }

    @Test
    void saveRestoreKeepsPendingCommandAndOutputBuffer() {
        command(0x60);
        I8042State mid = kbc.save();
        I8042 copy = new I8042(() -> { });
        copy.restore(mid);
        assertEquals(mid, copy.save());
        copy.write(DATA, 1, 0x47); // the parameter of the 0x60 issued before the snapshot
        copy.write(STATUS_COMMAND, 1, 0x20);
        assertEquals(0x47, copy.read(DATA, 1));

        command(0xaa);
        RecordingIrqLine kbd2 = new RecordingIrqLine();
        I8042 other = new I8042(() -> { }, kbd2, new RecordingIrqLine());
        other.restore(kbc.save());
        assertTrue(kbd2.level(), "restore drives the pending interrupt");
        assertEquals(status(), other.read(STATUS_COMMAND, 1));
        assertEquals(data(), other.read(DATA, 1));
        assertEquals(kbc.save(), other.save());
    }

    @Test
    void restoreRejectsInvalidState() {
        I8042State p = I8042State.POWER_ON;
        record Case(String field, I8042State state) { }
        var cases = List.of(
                new Case("I8042State.commandByte", new I8042State(0x100, 3, 0, false, 0, false, false)),
                new Case("I8042State.outputPort", new I8042State(5, -1, 0, false, 0, false, false)),
                new Case("I8042State.pendingCommand", new I8042State(5, 3, 0x20, false, 0, false, false)),
                new Case("I8042State.outputByte", new I8042State(5, 3, 0, true, 0x1ff, false, false)),
                new Case("I8042State.outputFromAux", new I8042State(5, 3, 0, false, 0, true, false)));
        for (Case c : cases) {
            var e = assertThrows(InvalidStateException.class, () -> kbc.restore(c.state()));
            assertEquals(c.field(), e.field());
            assertEquals(p, kbc.save(), "unchanged after " + c.field());
        }
    }

    @Test
    void resetReturnsToPowerOn() {
        command(0x60);
        kbc.write(DATA, 1, 0x03);
        command(0xaa);
        kbc.reset();
        assertEquals(I8042State.POWER_ON, kbc.save());
        assertFalse(kbd.level());
    }
}
