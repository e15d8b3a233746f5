package dev.stasis.devices;

/**
 * An interrupt line into the VM's interrupt controller (a GSI of the in-kernel IOAPIC/PIC). Devices drive
 * it as a level; the platform decides how it reaches KVM.
 */
public interface IrqLine {
    void set(boolean level);

    /** A line that goes nowhere, for devices used without an interrupt controller (and in unit tests). */
    IrqLine NONE = level -> {};
}
