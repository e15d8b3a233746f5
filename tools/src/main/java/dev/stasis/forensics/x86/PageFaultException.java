package dev.stasis.forensics.x86;

import dev.stasis.forensics.ForensicsException;

/**
 * Why a linear address does not translate, naming the paging level and entry where the walk stopped: what
 * a guest would have taken as a page fault (or a #GP for a non-canonical address).
 */
public final class PageFaultException extends ForensicsException {
    public enum Kind {
        /** An entry with P = 0. */
        NOT_PRESENT,
        /** An entry with reserved bits set (beyond MAXPHYADDR, misaligned large page, PS where none may be, NX without EFER.NXE). */
        RESERVED_BITS,
        /** A table or the final page lies outside guest RAM. */
        OUTSIDE_RAM,
        /** Not canonical in long mode, or wider than 32 bits in a 32-bit mode. */
        BAD_ADDRESS
    }

    private final Kind kind;
    private final String level;

    public PageFaultException(Kind kind, String level, String message) {
        super(message);
        this.kind = kind;
        this.level = level;
    }

    public Kind kind() {
        return kind;
    }

    /** The paging level ("PML4", "PDPT", "PD", "PT", ...) where the walk stopped, or "" when none was read. */
    public String level() {
        return level;
    }
}
