package dev.stasis.devices.i8042;

import dev.stasis.devices.BytePioDevice;
import dev.stasis.devices.InvalidStateException;
import dev.stasis.devices.IrqLine;

import java.util.Objects;

import static dev.stasis.devices.InvalidStateException.require;
import static dev.stasis.devices.InvalidStateException.requireRange;

/**
 * An 8042 keyboard controller with no keyboard or mouse behind it: what a guest needs to probe it
 * harmlessly and to reset the machine through it (command 0xfe, Linux's {@code reboot=k}).
 *
 * <p>Ports, as offsets from {@link #BASE} (the platform attaches 0x60..0x64 as one range):
 * {@link #DATA} (0, port 0x60) data, {@link #STATUS_COMMAND} (4, port 0x64) status on read, command on
 * write. Offsets 1..3 are not the controller's; they read 0xff and ignore writes. Port 0x61 (system
 * control port B, speaker and PIT gate) is served by KVM's in-kernel PIT and never reaches this device.
 *
 * <p>Controller commands answered: 0x20 read CTR, 0x60 write CTR, 0xa7/0xa8 disable/enable aux,
 * 0xa9 aux test (0x00), 0xaa self-test (0x55), 0xab keyboard test (0x00), 0xad/0xae disable/enable
 * keyboard, 0xc0 read input port, 0xd0/0xd1 read/write output port, 0xd2/0xd3 echo a byte as if from the
 * keyboard/aux, 0xd4 write to aux, 0xdd/0xdf A20 off/on, 0xf0..0xff pulse output lines (an even command
 * pulses reset). Anything else is ignored. Bytes written to the data port for the (absent) keyboard, or
 * through 0xd4 for the absent mouse, are dropped without an answer: the output buffer stays empty, so a
 * polling guest sees "nothing there" and its driver times out instead of hanging. Linux probes faster with
 * {@code i8042.noaux}; A20 is recorded but has no effect (KVM guests always have A20 on).
 *
 * <p>Reset: the device only <em>requests</em> it, by running {@code resetRequest} on the calling vCPU
 * thread after releasing its own lock. The runnable must not wait for the vCPUs to stop (the caller is
 * one of them); it should set a flag or kick the run loop.
 */
public final class I8042 implements BytePioDevice {
    public static final int BASE = 0x60;
    public static final int DATA = 0;
    public static final int STATUS_COMMAND = 4;
    /** Ports the platform attaches from {@link #BASE}: 0x60..0x64. */
    public static final int PORT_COUNT = 5;
    public static final int KBD_IRQ = 1;
    public static final int AUX_IRQ = 12;

    static final int STATUS_OBF = 0x01, STATUS_SYS = 0x04, STATUS_CMD = 0x08, STATUS_UNLOCKED = 0x10;
    static final int STATUS_AUX_OBF = 0x20;

    static final int CTR_KBD_INT = 0x01, CTR_AUX_INT = 0x02, CTR_SYS = 0x04;
    static final int CTR_KBD_DISABLE = 0x10, CTR_AUX_DISABLE = 0x20;

    static final int OUT_RESET = 0x01, OUT_A20 = 0x02;

    static final int CMD_READ_CTR = 0x20, CMD_WRITE_CTR = 0x60, CMD_AUX_DISABLE = 0xa7, CMD_AUX_ENABLE = 0xa8;
    static final int CMD_AUX_TEST = 0xa9, CMD_SELF_TEST = 0xaa, CMD_KBD_TEST = 0xab;
    static final int CMD_KBD_DISABLE = 0xad, CMD_KBD_ENABLE = 0xae, CMD_READ_INPUT = 0xc0;
    static final int CMD_READ_OUTPUT = 0xd0, CMD_WRITE_OUTPUT = 0xd1, CMD_WRITE_KBD_OB = 0xd2;
    static final int CMD_WRITE_AUX_OB = 0xd3, CMD_WRITE_AUX = 0xd4, CMD_A20_OFF = 0xdd, CMD_A20_ON = 0xdf;
    static final int CMD_PULSE_FIRST = 0xf0;
    static final int SELF_TEST_OK = 0x55;
    /** Input port: bit 7 set = keyboard not inhibited (QEMU answers the same). */
    static final int INPUT_PORT = 0x80;

    private final Runnable resetRequest;
    private final IrqLine kbdIrq;
    private final IrqLine auxIrq;

    private int commandByte, outputPort, pendingCommand, outputByte;
    private boolean outputFull, outputFromAux, lastWriteWasCommand;
    private boolean kbdLevel, auxLevel;

    /** A controller without interrupt lines: responses are only polled. */
    public I8042(Runnable resetRequest) {
        this(resetRequest, IrqLine.NONE, IrqLine.NONE);
    }

    /**
     * @param resetRequest run when the guest pulses the reset line (see the class comment)
     * @param kbdIrq       raised while a keyboard-port byte waits and CTR enables it (IRQ {@link #KBD_IRQ})
     * @param auxIrq       the same for the aux port (IRQ {@link #AUX_IRQ})
     */
    public I8042(Runnable resetRequest, IrqLine kbdIrq, IrqLine auxIrq) {
        this.resetRequest = Objects.requireNonNull(resetRequest, "resetRequest");
        this.kbdIrq = Objects.requireNonNull(kbdIrq, "kbdIrq");
        this.auxIrq = Objects.requireNonNull(auxIrq, "auxIrq");
        apply(I8042State.POWER_ON);
    }

    @Override
    public synchronized int readByte(int offset) {
        int value;
        if (offset == DATA) {
            value = outputByte; // an empty buffer returns the last byte again, as the chip does
            outputFull = false;
            outputFromAux = false;
            updateIrqs();
        } else if (offset == STATUS_COMMAND) {
            value = status();
        } else {
            value = 0xff;
        }
        return value;
    }

    @Override
    public void writeByte(int offset, int value) {
        boolean reset;
        synchronized (this) {
            value &= 0xff;
            if (offset == DATA) {
                reset = writeData(value);
            } else if (offset == STATUS_COMMAND) {
                reset = writeCommand(value);
            } else {
                return;
            }
            updateIrqs();
        }
        if (reset) {
            resetRequest.run(); // outside the lock: the platform may reset this very device
        }
    }

    /** A snapshot of the controller; cannot fail. */
    public synchronized I8042State save() {
        return new I8042State(commandByte, outputPort, pendingCommand, outputFull, outputByte, outputFromAux,
                lastWriteWasCommand);
    }

    /**
     * Puts {@code state} back after checking every field; on failure the device is unchanged. Drives both
     * interrupt lines to the restored levels.
     *
     * @throws InvalidStateException naming the first bad field
     */
    public synchronized void restore(I8042State state) {
        requireRange("I8042State.commandByte", state.commandByte(), 0, 0xff);
        requireRange("I8042State.outputPort", state.outputPort(), 0, 0xff);
        int p = state.pendingCommand();
        require(p == 0 || p == CMD_WRITE_CTR || p == CMD_WRITE_OUTPUT || p == CMD_WRITE_KBD_OB
                        || p == CMD_WRITE_AUX_OB || p == CMD_WRITE_AUX, "I8042State.pendingCommand",
                String.format("0x%x is not a command that takes a parameter", p));
        requireRange("I8042State.outputByte", state.outputByte(), 0, 0xff);
        require(!state.outputFromAux() || state.outputFull(), "I8042State.outputFromAux",
                "set while the output buffer is empty");
        apply(state);
        kbdLevel = kbdPending();
        auxLevel = auxPending();
        kbdIrq.set(kbdLevel);
        auxIrq.set(auxLevel);
    }

    /** Back to the power-on state (after the reset it requested), lowering both lines. */
    public void reset() {
        restore(I8042State.POWER_ON);
    }

    private void apply(I8042State s) {
        commandByte = s.commandByte();
        outputPort = s.outputPort();
        pendingCommand = s.pendingCommand();
        outputFull = s.outputFull();
        outputByte = s.outputByte();
        outputFromAux = s.outputFromAux();
        lastWriteWasCommand = s.lastWriteWasCommand();
    }

    private int status() {
        int s = STATUS_UNLOCKED;
        if (outputFull) {
            s |= outputFromAux ? STATUS_OBF | STATUS_AUX_OBF : STATUS_OBF;
        }
        if ((commandByte & CTR_SYS) != 0) {
            s |= STATUS_SYS; // the status bit mirrors CTR's "POST passed" bit
        }
        if (lastWriteWasCommand) {
            s |= STATUS_CMD;
        }
        return s;
    }

    /** Returns true if the command pulses the reset line. */
    private boolean writeCommand(int cmd) {
        lastWriteWasCommand = true;
        pendingCommand = 0; // a new command abandons one still waiting for its parameter
        switch (cmd) {
            case CMD_READ_CTR -> respond(commandByte, false);
            case CMD_WRITE_CTR, CMD_WRITE_OUTPUT, CMD_WRITE_KBD_OB, CMD_WRITE_AUX_OB, CMD_WRITE_AUX ->
                    pendingCommand = cmd;
            case CMD_AUX_DISABLE -> commandByte |= CTR_AUX_DISABLE;
            case CMD_AUX_ENABLE -> commandByte &= ~CTR_AUX_DISABLE;
            case CMD_AUX_TEST, CMD_KBD_TEST -> respond(0x00, false);
            case CMD_SELF_TEST -> {
                commandByte |= CTR_SYS;
                respond(SELF_TEST_OK, false);
            }
            case CMD_KBD_DISABLE -> commandByte |= CTR_KBD_DISABLE;
            case CMD_KBD_ENABLE -> commandByte &= ~CTR_KBD_DISABLE;
            case CMD_READ_INPUT -> respond(INPUT_PORT, false);
            case CMD_READ_OUTPUT -> respond(outputPort, false);
            case CMD_A20_OFF -> outputPort &= ~OUT_A20;
            case CMD_A20_ON -> outputPort |= OUT_A20;
            default -> {
                // 0xf0..0xff pulse output-port bits 0..3 low; bit 0 of the command clear means "pulse reset".
                return cmd >= CMD_PULSE_FIRST && (cmd & OUT_RESET) == 0;
            }
        }
        return false;
    }

    /** Returns true if the byte drives the reset line low. */
    private boolean writeData(int value) {
        lastWriteWasCommand = false;
        int cmd = pendingCommand;
        pendingCommand = 0;
        switch (cmd) {
            case CMD_WRITE_CTR -> commandByte = value;
            case CMD_WRITE_OUTPUT -> {
                outputPort = value;
                return (value & OUT_RESET) == 0;
            }
            case CMD_WRITE_KBD_OB -> respond(value, false);
            case CMD_WRITE_AUX_OB -> respond(value, true);
            default -> { } // to the absent keyboard (or, via 0xd4, the absent mouse): no answer
        }
        return false;
    }

    private void respond(int value, boolean fromAux) {
        outputByte = value;
        outputFull = true;
        outputFromAux = fromAux;
    }

    private boolean kbdPending() {
        return outputFull && !outputFromAux && (commandByte & CTR_KBD_INT) != 0;
    }

    private boolean auxPending() {
        return outputFull && outputFromAux && (commandByte & CTR_AUX_INT) != 0;
    }

    private void updateIrqs() {
        boolean kbd = kbdPending();
        boolean aux = auxPending();
        if (kbd != kbdLevel) {
            kbdLevel = kbd;
            kbdIrq.set(kbd);
        }
        if (aux != auxLevel) {
            auxLevel = aux;
            auxIrq.set(aux);
        }
    }
}
