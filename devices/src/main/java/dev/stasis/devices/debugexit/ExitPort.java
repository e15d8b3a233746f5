package dev.stasis.devices.debugexit;

import dev.stasis.devices.PioDevice;

import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * The port test guests write to end a run: a write of 1, 2 or 4 bytes at offset 0 from {@link #EXIT_PORT} hands
 * a status to the exit listener: the value, zero-extended from the access size ({@link Convention#STASIS}, the
 * default), or QEMU's isa-debug-exit status {@code (value << 1) | 1} ({@link Convention#QEMU}, for kernels
 * written for {@code -device isa-debug-exit,iobase=0xf4}). Reads return 0; writes at other offsets are ignored.
 *
 * <p>It has no state, hence no state record: an exit is an event, and a snapshot taken after it has
 * nothing to carry. The listener is called on the writing vCPU thread, possibly from several at once, and
 * should only record the status and ask the run loop to stop, not wait for the vCPUs.
 */
public final class ExitPort implements PioDevice {
    public static final int EXIT_PORT = 0xf4;
    public static final int PORT_COUNT = 1;

    /** How a written value becomes the exit status. */
    public enum Convention {
        STASIS, QEMU;

        int status(int value) {
            return this == QEMU ? (value << 1) | 1 : value;
        }
    }

    private final Convention convention;
    private final IntConsumer exitListener;

    public ExitPort(IntConsumer exitListener) {
        this(Convention.STASIS, exitListener);
    }

    public ExitPort(Convention convention, IntConsumer exitListener) {
        this.convention = Objects.requireNonNull(convention, "convention");
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
        exitListener.accept(convention.status(status));
    }
}
