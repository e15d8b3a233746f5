package dev.stasis.forensics.x86;

import dev.stasis.snapshot.state.StateRecord;

/** The registers a page walk depends on, read from a vCPU's {@code sregs}. */
public record ControlRegisters(long cr0, long cr3, long cr4, long efer) {
    public static ControlRegisters of(StateRecord sregs) {
        return new ControlRegisters(sregs.getLong("cr0"), sregs.getLong("cr3"), sregs.getLong("cr4"), sregs.getLong("efer"));
    }

    public PagingMode mode() {
        return PagingMode.of(this);
    }

    public boolean nxe() {
        return (efer & PagingMode.EFER_NXE) != 0;
    }

    public boolean pse() {
        return (cr4 & PagingMode.CR4_PSE) != 0;
    }
}
