package dev.stasis.machine;

/**
 * Where the machine's virtio-mmio transports sit: QEMU's microvm layout (a 0x200-byte window each from 0xfeb00000),
 * so one guest driver finds its devices under both VMMs, and free ISA interrupt lines, so Linux binds them with
 * only {@code virtio_mmio.device=512@0xfeb00000:5} on its command line (one per device), on PIC or IOAPIC alike.
 */
public final class VirtioSlots {
    public static final long BASE = 0xfeb00000L;
    public static final long STRIDE = 0x200;
    /** GSIs 5, 6, 7, 9, 10, 11, 12, 13: ISA lines no device of this machine uses (COM1 is 4, the RTC 8). */
    private static final int[] IRQS = {5, 6, 7, 9, 10, 11, 12, 13};
    public static final int COUNT = IRQS.length;

    private VirtioSlots() {}

    public static long address(int slot) {
        return BASE + STRIDE * slot;
    }

    public static int irq(int slot) {
        return IRQS[slot];
    }

    /** What Linux needs on its command line to bind slot {@code slot} (its virtio_mmio driver's syntax). */
    public static String linuxParameter(int slot) {
        return String.format("virtio_mmio.device=%d@0x%x:%d", STRIDE, address(slot), irq(slot));
    }
}
