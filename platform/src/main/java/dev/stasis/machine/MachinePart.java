package dev.stasis.machine;

import java.util.List;

/**
 * One stateful part of a {@link Machine}: a device, the in-kernel irqchips, kvmclock, the vCPUs. It saves its
 * sections, and restores them in two steps, so that every part has read and checked its sections before any
 * part changes anything (a file that fails to load never leaves a half-restored machine). A part that does I/O
 * of its own (a disk's request thread) can quiesce it around a snapshot.
 *
 * <p>Adding a device: its state record and {@code StateDescription} beside it in {@code devices}, and one
 * {@link DevicePart} in {@link Machine}'s part list (a device of which the user asks for several, like a disk, is a
 * part per instance, as {@link VirtioBlkPart}).
 */
public interface MachinePart {
    /**
     * When a part is saved and restored, relative to the others. Within a phase, parts go in the machine's order.
     */
    enum Phase {
        DEVICES, CLOCK, IRQCHIP, VCPUS;

        /**
         * Save: the emulated devices before the in-kernel irqchip, so an interrupt a device raises in between is at
         * worst pending in the saved irqchip with no cause (a guest driver reads nothing), never a lost edge; the
         * vCPUs last (each MP_STATE first and VCPU_EVENTS last, see {@code VcpuStateIo}).
         */
        public static final List<Phase> SAVE = List.of(DEVICES, CLOCK, IRQCHIP, VCPUS);

        /**
         * Restore: the irqchips and PIT before the vCPUs (a vCPU's LAPIC and pending events go into a restored
         * IOAPIC/PIC), kvmclock after the vCPUs (it is set relative to their TSC), the emulated devices last (what
         * they raise then meets a restored irqchip).
         */
        public static final List<Phase> RESTORE = List.of(IRQCHIP, VCPUS, CLOCK, DEVICES);
    }

    /** The second step of a restore: writes what {@link #prepare} read and checked. */
    interface Apply {
        /** Returns notes for the user (a TSC that cannot keep its rate here), usually none. */
        List<String> apply();
    }

    Phase phase();

    /** Writes this part's sections; the vCPUs are paused (or have not run). */
    void save(StateSink sink);

    /** Reads and checks this part's sections from {@code source}, changing nothing; the result writes them. */
    Apply prepare(StateSource source);

    /** Stops starting new I/O of its own ahead of a snapshot and lets what is in flight finish; no-op by default. */
    default void quiesce() {}

    /** Undoes {@link #quiesce}. */
    default void resume() {}

    /** Lets go of what the part holds beyond the VM (a disk image and its lock, an I/O thread); before the VM closes. */
    default void close() {}
}
