package dev.stasis.forensics.x86;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.stasis.forensics.BufferMemory;
import dev.stasis.forensics.x86.PageFaultException.Kind;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Page tables built by hand in a buffer for every paging mode, then walked; hostile ones too. */
class PageWalkerTest {
    private static final long P = 1;      // present
    private static final long RW = 2;
    private static final long PS = 0x80;
    private static final long CR0_PE_PG = 0x8000_0001L;
    private static final long EFER_LME_LMA = 0x500;
    private static final long EFER_NXE = 0x800;

    private final BufferMemory ram = BufferMemory.zeroed(0, 1 << 20);
    private final PageWalker walker = new PageWalker(ram, 46);

    private static ControlRegisters longMode(long cr3) {
        return new ControlRegisters(CR0_PE_PG, cr3, 0x20, EFER_LME_LMA);
    }

    private static int idx(long vaddr, int level) {
        return (int) ((vaddr >>> (12 + 9 * (level - 1))) & 511);
    }

    /** PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000 -> PT 0x4000 for {@code vaddr}. */
    private void fourLevels(long vaddr) {
        ram.putLong(0x1000 + 8L * idx(vaddr, 4), 0x2000 | P | RW);
        ram.putLong(0x2000 + 8L * idx(vaddr, 3), 0x3000 | P | RW);
        ram.putLong(0x3000 + 8L * idx(vaddr, 2), 0x4000 | P | RW);
    }

    private PageFaultException fault(ControlRegisters cr, long vaddr) {
        return assertThrows(PageFaultException.class, () -> walker.translate(cr, vaddr));
    }

    @Test
    void pagingOffIsPhysical() {
        Translation t = walker.translate(new ControlRegisters(0x11, 0, 0, 0), 0x12345);
        assertEquals(PagingMode.OFF, t.mode());
        assertEquals(0x12345, t.gpa());
    }

    @Test
    void fourLevel4KiBPage() {
        long va = 0x0000_7f12_3456_7abcL;
        fourLevels(va);
        ram.putLong(0x4000 + 8L * idx(va, 1), 0x9000 | P | RW);
        Translation t = walker.translate(longMode(0x1000), va);
        assertEquals(PagingMode.LONG_4, t.mode());
        assertEquals(0x9abc, t.gpa());
        assertEquals(4096, t.pageSize());
        assertEquals(List.of("PML4", "PDPT", "PD", "PT"), t.steps().stream().map(Translation.Step::level).toList());
        assertEquals(idx(va, 4), t.steps().get(0).index());
        assertEquals(0x1000 + 8L * idx(va, 4), t.steps().get(0).entryGpa());
    }

    @Test
    void higherHalfAddressesAndPcidBitsInCr3() {
        long va = 0xffff_8000_0000_5123L;
        fourLevels(va);
        ram.putLong(0x4000 + 8L * idx(va, 1), 0x7000 | P);
        assertEquals(0x7123, walker.translate(longMode(0x1000 | 0x5 /* PCID */), va).gpa());
    }

    @Test
    void twoMiBAndOneGiBPages() {
        long va2m = 0x0000_0040_1234_5678L;
        ram.putLong(0x1000 + 8L * idx(va2m, 4), 0x2000 | P);
        ram.putLong(0x2000 + 8L * idx(va2m, 3), 0x3000 | P);
        ram.putLong(0x3000 + 8L * idx(va2m, 2), 0x0060_0000L | PS | P);
        Translation t = walker.translate(longMode(0x1000), va2m);
        assertEquals(2 << 20, t.pageSize());
        assertEquals(0x0060_0000L | (va2m & 0x1f_ffff), t.gpa());
        assertEquals(3, t.steps().size());

        long va1g = 0x0000_0080_1234_5678L;
        ram.putLong(0x1000 + 8L * idx(va1g, 4), 0x5000 | P);
        ram.putLong(0x5000 + 8L * idx(va1g, 3), 0x1_4000_0000L | PS | P);
        t = walker.translate(longMode(0x1000), va1g);
        assertEquals(1L << 30, t.pageSize());
        assertEquals(0x1_4000_0000L | (va1g & 0x3fff_ffff), t.gpa());
        assertEquals(List.of("PML4", "PDPT"), t.steps().stream().map(Translation.Step::level).toList());
    }

    @Test
    void fiveLevelPaging() {
        long va = 0x00ab_cdef_1234_5678L; // bits 56:48 non-zero, canonical with 57 bits
        ControlRegisters cr = new ControlRegisters(CR0_PE_PG, 0x6000, 0x20 | (1 << 12), EFER_LME_LMA);
        ram.putLong(0x6000 + 8L * idx(va, 5), 0x1000 | P);
        fourLevels(va);
        ram.putLong(0x4000 + 8L * idx(va, 1), 0x8000 | P);
        Translation t = walker.translate(cr, va);
        assertEquals(PagingMode.LONG_5, t.mode());
        assertEquals(0x8678, t.gpa());
        assertEquals("PML5", t.steps().get(0).level());
        // The same address is not canonical with 4 levels.
        assertEquals(Kind.BAD_ADDRESS, fault(longMode(0x1000), va).kind());
        assertEquals(Kind.BAD_ADDRESS, fault(cr, 0x0100_0000_0000_0000L).kind());
    }

    @Test
    void nonCanonicalAddressIsRefused() {
        PageFaultException e = fault(longMode(0x1000), 0x0000_8000_0000_0000L);
        assertEquals(Kind.BAD_ADDRESS, e.kind());
        assertTrue(e.getMessage().contains("not canonical"), e.getMessage());
    }

    @Test
    void legacy32BitPaging4KiBAnd4MiBPages() {
        ControlRegisters cr = new ControlRegisters(CR0_PE_PG, 0x1000, 0, 0);
        long va = 0xc012_3456L;
        ram.putInt(0x1000 + 4L * (va >>> 22), 0x2000 | (int) (P | RW));
        ram.putInt(0x2000 + 4L * ((va >>> 12) & 1023), 0x7000 | (int) P);
        Translation t = walker.translate(cr, va);
        assertEquals(PagingMode.LEGACY_32, t.mode());
        assertEquals(0x7456, t.gpa());
        assertEquals(List.of("PD", "PT"), t.steps().stream().map(Translation.Step::level).toList());

        // 4 MiB page with PSE-36 high bits (PDE bits 20:13 = physical bits 39:32).
        ControlRegisters pse = new ControlRegisters(CR0_PE_PG, 0x1000, 0x10, 0);
        long va4m = 0x8012_3456L;
        ram.putInt(0x1000 + 4L * (va4m >>> 22), (int) (0x00c0_0000L | (3L << 13) | PS | P));
        t = walker.translate(pse, va4m);
        assertEquals(4 << 20, t.pageSize());
        assertEquals(0x3_00c0_0000L | (va4m & 0x3f_ffff), t.gpa());
        // Without CR4.PSE the same PDE points to a page table instead (here outside RAM).
        PageFaultException noPse = fault(cr, va4m);
        assertEquals(Kind.OUTSIDE_RAM, noPse.kind());
        assertEquals("PT", noPse.level());
        // Bit 21 of a 4 MiB PDE is reserved.
        ram.putInt(0x1000 + 4L * (va4m >>> 22), (int) (0x00c0_0000L | (1L << 21) | PS | P));
        PageFaultException e = fault(pse, va4m);
        assertEquals(Kind.RESERVED_BITS, e.kind());
        assertEquals("PD", e.level());
        assertEquals(Kind.BAD_ADDRESS, fault(cr, 0x1_0000_0000L).kind());
    }

    @Test
    void paePaging4KiBAnd2MiBPages() {
        ControlRegisters cr = new ControlRegisters(CR0_PE_PG, 0x1020, 0x20, 0);
        long va = 0x8040_1234L; // PDPT 2, PD 2, PT 1
        ram.putLong(0x1020 + 8L * 2, 0x2000 | P);
        ram.putLong(0x2000 + 8L * 2, 0x3000 | P | RW);
        ram.putLong(0x3000 + 8L * 1, 0x5000 | P | RW);
        Translation t = walker.translate(cr, va);
        assertEquals(PagingMode.PAE, t.mode());
        assertEquals(0x5234, t.gpa());
        assertEquals(List.of("PDPT", "PD", "PT"), t.steps().stream().map(Translation.Step::level).toList());

        long va2m = 0x4060_0010L; // PDPT 1, PD 3
        ram.putLong(0x1020 + 8L * 1, 0x6000 | P);
        ram.putLong(0x6000 + 8L * 3, 0x1_0020_0000L | PS | P);
        t = walker.translate(cr, va2m);
        assertEquals(2 << 20, t.pageSize());
        assertEquals(0x1_0020_0010L, t.gpa());

        // RW in a PDPTE is reserved (bits 2:1 and 8:5 are).
        ram.putLong(0x1020 + 8L * 1, 0x6000 | P | RW);
        PageFaultException e = fault(cr, va2m);
        assertEquals(Kind.RESERVED_BITS, e.kind());
        assertEquals("PDPT", e.level());
    }

    @Test
    void notPresentNamesTheLevelAndEntry() {
        long va = 0x0000_1234_5678_9000L;
        ram.putLong(0x1000 + 8L * idx(va, 4), 0x2000 | P);
        ram.putLong(0x2000 + 8L * idx(va, 3), 0x3000 | P);
        PageFaultException e = fault(longMode(0x1000), va);
        assertEquals(Kind.NOT_PRESENT, e.kind());
        assertEquals("PD", e.level());
        assertTrue(e.getMessage().contains("PD entry " + idx(va, 2) + " "), e.getMessage());
        assertTrue(e.getMessage().contains("not present"), e.getMessage());
    }

    @Test
    void hostileEntries() {
        long va = 0x0000_0000_4000_0000L; // PML4 0, PDPT 1
        ControlRegisters cr = longMode(0x1000);
        // A table beyond RAM (but within MAXPHYADDR).
        ram.putLong(0x1000, 0x3fff_0000_0000L | P);
        PageFaultException e = fault(cr, va);
        assertEquals(Kind.OUTSIDE_RAM, e.kind());
        assertEquals("PDPT", e.level());
        // Address bits above MAXPHYADDR (46 here).
        ram.putLong(0x1000, (1L << 50) | 0x2000 | P);
        e = fault(cr, va);
        assertEquals(Kind.RESERVED_BITS, e.kind());
        assertEquals("PML4", e.level());
        // PS in a PML4 entry.
        ram.putLong(0x1000, 0x2000 | PS | P);
        assertEquals(Kind.RESERVED_BITS, fault(cr, va).kind());
        // NX without EFER.NXE is reserved; with it, fine.
        ram.putLong(0x1000, 0x2000 | P | (1L << 63));
        ram.putLong(0x2000 + 8, 0x4000_0000L | PS | P);
        assertEquals(Kind.RESERVED_BITS, fault(cr, va).kind());
        assertEquals(0x4000_0000L, walker.translate(new ControlRegisters(CR0_PE_PG, 0x1000, 0x20, EFER_LME_LMA | EFER_NXE), va).gpa());
        // A 1 GiB page whose frame is not 1 GiB aligned (bit 13 set).
        ram.putLong(0x1000, 0x2000 | P);
        ram.putLong(0x2000 + 8, 0x4000_2000L | PS | P);
        e = fault(cr, va);
        assertEquals(Kind.RESERVED_BITS, e.kind());
        assertEquals("PDPT", e.level());
        // CR3 itself outside RAM.
        assertEquals(Kind.OUTSIDE_RAM, fault(longMode(0x40_0000_0000L), va).kind());
    }

    @Test
    void selfReferencingTablesEndAtTheFixedDepth() {
        ram.putLong(0x1000, 0x1000 | P | RW); // PML4[0] -> PML4: every level reads the same table
        Translation t = walker.translate(longMode(0x1000), 0x0000_0000_0000_0010L);
        assertEquals(4, t.steps().size());
        assertEquals(0x1010, t.gpa());
    }

    @Test
    void readsCrossingPagesTranslateEachPage() {
        long va = 0x0000_0000_0060_0ff8L; // last 8 bytes of one page, first 8 of the next
        fourLevels(va);
        ram.putLong(0x4000 + 8L * idx(va, 1), 0x9000 | P);
        ram.putLong(0x4000 + 8L * idx(va + 8, 1), 0x7000 | P); // next page lives lower in RAM
        ram.put(0x9ff8, "STASIS-A".getBytes(StandardCharsets.US_ASCII));
        ram.put(0x7000, "STASIS-B".getBytes(StandardCharsets.US_ASCII));
        VirtualMemory vm = new VirtualMemory(ram, walker, longMode(0x1000));
        assertArrayEquals("STASIS-ASTASIS-B".getBytes(StandardCharsets.US_ASCII), vm.read(va, 16));
        // A page mapped outside RAM fails the read and says where it maps.
        ram.putLong(0x4000 + 8L * idx(va + 8, 1), 0x7_0000_0000L | P);
        PageFaultException e = assertThrows(PageFaultException.class, () -> vm.read(va, 16));
        assertEquals(Kind.OUTSIDE_RAM, e.kind());
        assertTrue(e.getMessage().contains("0x700000000"), e.getMessage());
    }
}
