package dev.stasis.devices.pvpanic;

import dev.stasis.devices.PioDevice;
import java.util.Objects;
import java.util.function.IntConsumer;

/**
 * QEMU's ISA pvpanic device at port {@value #PORT}: how a guest says it panicked (Linux's pvpanic driver, or a
 * test guest's {@code outb}). Reads return the events it supports; a write of a value with
 * {@link #PANICKED} set reports a panic to the listener, which stops the VM as a guest failure (and so takes a
 * crash dump). {@link #CRASH_LOADED} alone (a kdump kernel took over) is not a stop, as in QEMU.
 * Stateless: a panic is an event.
 */
public final class PvPanic implements PioDevice {
    public static final int PORT = 0x505;
    public static final int PANICKED = 1;
    public static final int CRASH_LOADED = 2;

    private final IntConsumer panicListener;

    public PvPanic(IntConsumer panicListener) {
        this.panicListener = Objects.requireNonNull(panicListener, "panicListener");
    }

    @Override
    public int read(int offset, int size) {
        return offset == 0 ? PANICKED | CRASH_LOADED : 0;
    }

    @Override
    public void write(int offset, int size, int value) {
        if (offset == 0 && (value & PANICKED) != 0) {
            panicListener.accept(value & 0xff);
        }
    }
}
