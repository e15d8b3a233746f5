package dev.stasis.loader.multiboot;

import dev.stasis.loader.BiosMemoryMap;
import dev.stasis.loader.BootGdt;
import dev.stasis.loader.CpuMode;
import dev.stasis.loader.ElfSegment;
import dev.stasis.loader.EntryPoint;
import dev.stasis.loader.InvalidImageException;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import java.util.ArrayList;
import java.util.List;

/**
 * Boots a Multiboot kernel as the specifications (version 1 and 2) say and as QEMU's {@code -kernel} and GRUB do:
 * the image is placed by its ELF program headers or its header's load addresses, bss zeroed; the boot
 * information structure, then each module (page-aligned, with its string), go after the kernel's end; the boot
 * vCPU enters in 32-bit protected mode with paging off, flat 4 GiB segments, interrupts off, EAX = the boot
 * loader magic and EBX = the information structure. The other vCPUs wait for INIT/SIPI, as on hardware, and all
 * of low memory (page 0 included) is RAM for the kernel's own trampolines.
 *
 * <p>Everything is checked before guest memory is written: the header, every load address inside RAM below
 * 4 GiB, the entry inside what is loaded, the information structure and modules fitting after the kernel.
 */
public final class MultibootLoader {
    private MultibootLoader() {}

    public static final String LOADER_NAME = "stasis";
    private static final long FOUR_GIB = 1L << 32;

    /** Whether {@code image} carries a Multiboot 1 or 2 header (a malformed one counts: loading says what is wrong). */
    public static boolean isMultiboot(byte[] image) {
        return version(image) != 0;
    }

    private static boolean has(byte[] image, int magic, int search, int step) {
        for (int at = 0; at + 4 <= Math.min(image.length, search); at += step) {
            if ((image[at] & 0xff | (image[at + 1] & 0xff) << 8 | (image[at + 2] & 0xff) << 16 | (image[at + 3] & 0xff) << 24) == magic) {
                return true;
            }
        }
        return false;
    }

    /** 2 for a Multiboot 2 kernel, 1 for a Multiboot 1 kernel, 0 for neither (the header as {@link #load} finds it). */
    public static int version(byte[] image) {
        return has(image, Multiboot2Header.MAGIC, Multiboot2Header.SEARCH, 8) ? 2 : has(image, Multiboot1Header.MAGIC, Multiboot1Header.SEARCH, 4) ? 1 : 0;
    }

    public static EntryPoint load(GuestMemory memory, byte[] image, String cmdline, List<Module> modules) {
        Multiboot2Header v2 = Multiboot2Header.find(image);
        Multiboot1Header v1 = v2 == null ? Multiboot1Header.find(image) : null;
        if (v2 == null && v1 == null) {
            throw new InvalidImageException("no Multiboot header in the first 8 KiB (version 1) or 32 KiB (version 2) of the image");
        }
        KernelImage kernel = v2 != null ? v2.kernel(image) : v1.kernel(image);
        for (ElfSegment s : kernel.pieces()) {
            inRam(memory, s.paddr(), s.memSize(), String.format("the kernel's load range 0x%x-0x%x", s.paddr(), s.paddr() + s.memSize()));
        }
        if (kernel.pieces().stream().noneMatch(s -> kernel.entry() >= s.paddr() && kernel.entry() < s.paddr() + s.fileSize())) {
            throw new InvalidImageException(String.format("the Multiboot entry 0x%x is not inside the kernel's loaded bytes", kernel.entry()));
        }
        List<BiosMemoryMap.Entry> memmap = BiosMemoryMap.of(memory.layout());
        String name = LOADER_NAME;
        long infoBase = align(kernel.end(), 4096);
        // Laid out twice: the structure's size does not depend on where the modules go, their addresses do on its size.
        List<Module.Placed> placed = place(memory, modules, infoBase + build(v2 != null, infoBase, memmap, cmdline, placeholders(modules), name).length);
        byte[] info = build(v2 != null, infoBase, memmap, cmdline, placed, name);
        inRam(memory, infoBase, info.length, String.format("the boot information at 0x%x (%d bytes)", infoBase, info.length));

        BootGdt.write(memory); // the kernel loads its own GDT before it reloads a segment (both specifications)
        for (ElfSegment s : kernel.pieces()) {
            memory.write(s.paddr(), image, (int) s.offset(), (int) s.fileSize());
            memory.zero(s.paddr() + s.fileSize(), s.memSize() - s.fileSize());
        }
        memory.write(infoBase, info);
        for (int i = 0; i < modules.size(); i++) {
            memory.write(placed.get(i).start(), modules.get(i).data());
        }
        int magic = v2 != null ? Multiboot2Header.BOOTLOADER_MAGIC : Multiboot1Header.BOOTLOADER_MAGIC;
        return new EntryPoint(CpuMode.PROTECTED_32, kernel.entry(), 0, 0, infoBase, 0, 0, false, Integer.toUnsignedLong(magic));
    }

    private static byte[] build(boolean v2, long base, List<BiosMemoryMap.Entry> memmap, String cmdline, List<Module.Placed> modules, String name) {
        return v2 ? Multiboot2Info.build(base, memmap, cmdline, modules, name) : Multiboot1Info.build(base, memmap, cmdline, modules, name);
    }

    private static List<Module.Placed> placeholders(List<Module> modules) {
        return modules.stream().map(m -> new Module.Placed(0, 0, m.string())).toList();
    }

    /** Each module page-aligned after {@code from}, in order; one that does not fit in RAM below 4 GiB is refused. */
    private static List<Module.Placed> place(GuestMemory memory, List<Module> modules, long from) {
        List<Module.Placed> out = new ArrayList<>();
        long at = align(from, 4096);
        for (int i = 0; i < modules.size(); i++) {
            int size = modules.get(i).data().length;
            inRam(memory, at, Math.max(size, 1), String.format("module %d (%d bytes, at 0x%x after the kernel and its boot information)", i + 1, size, at));
            out.add(new Module.Placed(at, at + size, modules.get(i).string()));
            at = align(at + size, 4096);
        }
        return out;
    }

    private static void inRam(GuestMemory memory, long gpa, long size, String what) {
        MemoryRange r = memory.layout().find(gpa, size);
        if (r == null || gpa + size > FOUR_GIB) {
            throw new InvalidImageException(what + " does not fit in guest RAM below 4 GiB " + memory.layout().ranges());
        }
    }

    private static long align(long v, long a) {
        return (v + a - 1) & -a;
    }
}
