package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;

/**
 * Identity-mapped 4-level page tables for the first 4 GiB with 2 MiB pages, so 64-bit entry code can
 * reach all of low RAM and the LAPIC/IOAPIC in the MMIO hole. Occupies {@code [0x1000, 0x7000)}.
 */
public final class IdentityPageTables {
    private IdentityPageTables() {}

    public static final long PML4 = 0x1000;
    public static final long PDPT = 0x2000;
    /** Four page directories, one per GiB. */
    public static final long PD = 0x3000;
    public static final long END = 0x7000;

    private static final long PRESENT_WRITABLE = 0x3;
    private static final long PAGE_SIZE_2M = 0x80;

    /** Writes the tables and returns the value for CR3. */
    public static long write(GuestMemory memory) {
        memory.zero(PML4, END - PML4);
        memory.putLong(PML4, PDPT | PRESENT_WRITABLE);
        for (int gib = 0; gib < 4; gib++) {
            long pd = PD + 0x1000L * gib;
            memory.putLong(PDPT + 8L * gib, pd | PRESENT_WRITABLE);
            for (int i = 0; i < 512; i++) {
                long address = ((long) gib << 30) | ((long) i << 21);
                memory.putLong(pd + 8L * i, address | PRESENT_WRITABLE | PAGE_SIZE_2M);
            }
        }
        return PML4;
    }
}
