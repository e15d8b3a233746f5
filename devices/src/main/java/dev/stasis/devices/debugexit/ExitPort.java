package dev.stasis.devices.debugexit;

import dev.stasis.devices.PioDevice;

import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * The port test guests write to end a run (like QEMU's isa-debug-exit, without its {@code (v << 1) | 1}
 * mangling): a write of 1, 2 or 4 bytes at offset 0 from {@link #EXIT_PORT} hands the value, zero-extended
 * from the access size, to the exit listener. Reads return 0; writes at other offsets are ignored.
 *
 * <p>It has no state, hence no state record: an exit is an event, and a snapshot taken after it has
 * nothing to carry. The listener is called on the writing vCPU thread, possibly from several at once, and
 * should only record the status and ask the run loop to stop, not wait for the vCPUs.
 */
public final class ExitPort implements PioDevice {
    public static final int EXIT_PORT = 0xf4;
    public static final int PORT_COUNT = 1;

    private final IntConsumer exitListener;

    public ExitPort(IntConsumer exitListener) {
        this.exitListener = Objects.requireNonNull(exitListener, "exitListener");
    }

    @Override
    public int read(int offset, int size) {
        return 0;
    }

    @Override
    public void write(int offset, int size, int value) {
        if (offset != 0) {
            return;
        }
        int status = switch (size) {
            case 1 -> value & 0xff;
            case 2 -> value & 0xffff;
            default -> value;
        };
        exitListener.accept(status);
    }
}
