package dev.stasis.forensics.x86;

import dev.stasis.forensics.PhysicalMemory;
import dev.stasis.forensics.x86.PageFaultException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Translates linear addresses to guest-physical ones offline, by reading a vCPU's page tables out of guest
 * memory: libvmmapi's {@code vm_gla2gpa} without a running VM (Intel SDM vol. 3 ch. 4). Every entry is
 * untrusted: a walk stops with a {@link PageFaultException} naming level and entry on a non-present entry,
 * reserved bits, or a table outside RAM. Walks have a fixed depth per mode, so a hostile table cannot loop.
 * Accessed/dirty bits are never written and permissions are not checked: this is a debugger's view.
 */
public final class PageWalker {
    /** Bits 51:12 of a 64-bit entry: the next table or the page frame. */
    private static final long ADDRESS_MASK = 0x000f_ffff_ffff_f000L;
    private static final long PRESENT = 1;
    private static final long PS = 1L << 7;
    private static final long NX = 1L << 63;
    private static final String[] LONG_LEVELS = {"PT", "PD", "PDPT", "PML4", "PML5"};

    private final PhysicalMemory memory;
    private final int maxPhysBits;

    /** @param maxPhysBits MAXPHYADDR (CPUID 0x80000008 EAX[7:0]); address bits above it are reserved */
    public PageWalker(PhysicalMemory memory, int maxPhysBits) {
        if (maxPhysBits < 32 || maxPhysBits > 52) {
            throw new IllegalArgumentException("MAXPHYADDR must be 32..52, got " + maxPhysBits);
        }
        this.memory = memory;
        this.maxPhysBits = maxPhysBits;
    }

    public Translation translate(ControlRegisters cr, long vaddr) {
        PagingMode mode = cr.mode();
        return switch (mode) {
            case OFF -> new Translation(vaddr, vaddr, 4096, mode, List.of());
            case LEGACY_32 -> legacy32(cr, vaddr);
            case PAE -> pae(cr, vaddr);
            case LONG_4, LONG_5 -> longMode(cr, vaddr, mode);
        };
    }

    private Translation longMode(ControlRegisters cr, long vaddr, PagingMode mode) {
        int levels = mode.levels;
        int bits = 12 + 9 * levels;
        long top = vaddr >> (bits - 1);
        if (top != 0 && top != -1) {
            throw new PageFaultException(Kind.BAD_ADDRESS, "", String.format(
                    "0x%x is not canonical for %s (bits 63:%d must equal bit %d)", vaddr, mode.description, bits - 1, bits - 1));
        }
        List<Translation.Step> steps = new ArrayList<>();
        long table = cr.cr3() & ADDRESS_MASK;
        String from = "CR3";
        for (int level = levels; level >= 1; level--) {
            String name = LONG_LEVELS[level - 1];
            int shift = 12 + 9 * (level - 1);
            int index = (int) ((vaddr >>> shift) & 511);
            long entry = readEntry(vaddr, name, table, index, 8, from);
            Translation.Step step = new Translation.Step(name, index, table + index * 8L, entry);
            steps.add(step);
            requirePresent(vaddr, step);
            long reserved = highReserved() | (cr.nxe() ? 0 : NX);
            boolean large = (entry & PS) != 0 && level <= 3 && level >= 2;
            if ((entry & PS) != 0 && level >= 4) {
                reserved |= PS; // no pages at PML4 or PML5 level
            }
            if (large) {
                reserved |= ((1L << shift) - 1) & ~0x1fffL; // frame bits below the page size; bit 12 is PAT
            }
            checkReserved(vaddr, step, reserved);
            if (level == 1 || large) {
                long pageSize = 1L << shift;
                long frame = entry & ADDRESS_MASK & ~(pageSize - 1);
                return new Translation(vaddr, frame | (vaddr & (pageSize - 1)), pageSize, mode, steps);
            }
            table = entry & ADDRESS_MASK;
            from = describe(step);
        }
        throw new AssertionError("a walk ends at level 1");
    }

    private Translation pae(ControlRegisters cr, long vaddr) {
        require32(vaddr, PagingMode.PAE);
        List<Translation.Step> steps = new ArrayList<>();
        long pdpt = cr.cr3() & 0xffff_ffe0L;
        int index = (int) ((vaddr >>> 30) & 3);
        long pdpte = readEntry(vaddr, "PDPT", pdpt, index, 8, "CR3");
        Translation.Step step = new Translation.Step("PDPT", index, pdpt + index * 8L, pdpte);
        steps.add(step);
        requirePresent(vaddr, step);
        checkReserved(vaddr, step, highReserved() | NX | 0x1e6L); // bits 2:1 and 8:5 are reserved in a PDPTE
        long table = pdpte & ADDRESS_MASK;
        for (int level = 2; level >= 1; level--) {
            String name = level == 2 ? "PD" : "PT";
            int shift = 12 + 9 * (level - 1);
            index = (int) ((vaddr >>> shift) & 511);
            long entry = readEntry(vaddr, name, table, index, 8, describe(step));
            step = new Translation.Step(name, index, table + index * 8L, entry);
            steps.add(step);
            requirePresent(vaddr, step);
            boolean large = level == 2 && (entry & PS) != 0;
            long reserved = highReserved() | (cr.nxe() ? 0 : NX) | (large ? 0x1f_e000L : 0);
            checkReserved(vaddr, step, reserved);
            if (level == 1 || large) {
                long pageSize = 1L << shift;
                long frame = entry & ADDRESS_MASK & ~(pageSize - 1);
                return new Translation(vaddr, frame | (vaddr & (pageSize - 1)), pageSize, PagingMode.PAE, steps);
            }
            table = entry & ADDRESS_MASK;
        }
        throw new AssertionError("a walk ends at level 1");
    }

    private Translation legacy32(ControlRegisters cr, long vaddr) {
        require32(vaddr, PagingMode.LEGACY_32);
        long pd = cr.cr3() & 0xffff_f000L;
        int index = (int) ((vaddr >>> 22) & 1023);
        long pde = readEntry(vaddr, "PD", pd, index, 4, "CR3");
        Translation.Step step = new Translation.Step("PD", index, pd + index * 4L, pde);
        requirePresent(vaddr, step);
        if ((pde & PS) != 0 && cr.pse()) {
            // PSE-36: PDE bits 20:13 are physical address bits 39:32; bit 21 is reserved.
            long high = ((pde >>> 13) & 0xff) << 32;
            long reservedHigh = maxPhysBits >= 40 ? 0 : (((1L << (40 - maxPhysBits)) - 1) << (13 + maxPhysBits - 32));
            checkReserved(vaddr, step, (1L << 21) | reservedHigh);
            long frame = (pde & 0xffc0_0000L) | high;
            return new Translation(vaddr, frame | (vaddr & 0x3f_ffffL), 4L << 20, PagingMode.LEGACY_32, List.of(step));
        }
        long pt = pde & 0xffff_f000L;
        index = (int) ((vaddr >>> 12) & 1023);
        long pte = readEntry(vaddr, "PT", pt, index, 4, describe(step));
        Translation.Step last = new Translation.Step("PT", index, pt + index * 4L, pte);
        requirePresent(vaddr, last);
        return new Translation(vaddr, (pte & 0xffff_f000L) | (vaddr & 0xfff), 4096, PagingMode.LEGACY_32, List.of(step, last));
    }

    private long readEntry(long vaddr, String level, long table, int index, int size, String from) {
        long at = table + (long) index * size;
        ByteBuffer b = memory.view(at, size);
        if (b == null) {
            throw new PageFaultException(Kind.OUTSIDE_RAM, level, String.format(
                    "0x%x: the %s table at guest-physical 0x%x (from %s) is outside guest RAM %s", vaddr, level, table, from, memory.ranges()));
        }
        b.order(ByteOrder.LITTLE_ENDIAN);
        return size == 8 ? b.getLong() : Integer.toUnsignedLong(b.getInt());
    }

    private static void requirePresent(long vaddr, Translation.Step s) {
        if ((s.entry() & PRESENT) == 0) {
            throw new PageFaultException(Kind.NOT_PRESENT, s.level(), String.format("0x%x is not mapped: %s is not present", vaddr, describe(s)));
        }
    }

    private static void checkReserved(long vaddr, Translation.Step s, long reservedMask) {
        long bad = s.entry() & reservedMask;
        if (bad != 0) {
            throw new PageFaultException(Kind.RESERVED_BITS, s.level(), String.format(
                    "0x%x does not translate: %s has reserved bits set (0x%x)", vaddr, describe(s), bad));
        }
    }

    private static void require32(long vaddr, PagingMode mode) {
        if ((vaddr >>> 32) != 0) {
            throw new PageFaultException(Kind.BAD_ADDRESS, "", String.format("0x%x is wider than 32 bits, the linear address size of %s", vaddr, mode.description));
        }
    }

    /** Physical address bits from MAXPHYADDR to 51. */
    private long highReserved() {
        return maxPhysBits >= 52 ? 0 : ((1L << 52) - 1) & ~((1L << maxPhysBits) - 1);
    }

    static String describe(Translation.Step s) {
        return String.format("%s entry %d (at guest-physical 0x%x, value 0x%x)", s.level(), s.index(), s.entryGpa(), s.entry());
    }
}
