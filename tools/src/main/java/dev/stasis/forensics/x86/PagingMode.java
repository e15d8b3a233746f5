package dev.stasis.forensics.x86;

/** How an x86 vCPU translates linear addresses, decided by CR0.PG, CR4.PAE, CR4.LA57 and EFER.LMA. */
public enum PagingMode {
    /** CR0.PG = 0: linear addresses are physical. */
    OFF("paging off", 0),
    /** 32-bit paging: 2 levels of 4-byte entries, 4 KiB pages and 4 MiB pages with CR4.PSE. */
    LEGACY_32("32-bit paging", 2),
    /** PAE: a 4-entry PDPT, then 2 levels of 8-byte entries, 4 KiB and 2 MiB pages. */
    PAE("PAE paging", 3),
    /** Long mode, 4 levels (48-bit linear addresses), 4 KiB, 2 MiB and 1 GiB pages. */
    LONG_4("4-level paging", 4),
    /** Long mode with CR4.LA57, 5 levels (57-bit linear addresses). */
    LONG_5("5-level paging", 5);

    public final String description;
    public final int levels;

    PagingMode(String description, int levels) {
        this.description = description;
        this.levels = levels;
    }

    static final long CR0_PG = 1L << 31;
    static final long CR4_PSE = 1L << 4;
    static final long CR4_PAE = 1L << 5;
    static final long CR4_LA57 = 1L << 12;
    static final long EFER_NXE = 1L << 11;
    static final long EFER_LMA = 1L << 10;

    public static PagingMode of(ControlRegisters cr) {
        if ((cr.cr0() & CR0_PG) == 0) {
            return OFF;
        }
        if ((cr.efer() & EFER_LMA) != 0) {
            return (cr.cr4() & CR4_LA57) != 0 ? LONG_5 : LONG_4;
        }
        return (cr.cr4() & CR4_PAE) != 0 ? PAE : LEGACY_32;
    }
}
