package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;
import java.util.List;

/**
 * Boots an uncompressed Linux kernel (vmlinux) through the PVH entry, as Xen, QEMU and Firecracker do: the ELF's
 * PT_LOAD segments go to their physical addresses, and vCPU 0 enters in 32-bit protected mode, paging off, at the
 * address of the kernel's {@code XEN_ELFNOTE_PHYS32_ENTRY} note with RBX = {@code hvm_start_info}. A bzImage is
 * accepted too: its vmlinux is extracted first ({@link VmlinuxExtractor}).
 *
 * <p>Guest memory at entry:
 * <pre>
 * 0x00500            GDT ({@link BootGdt}; CS = {@link BootGdt#CODE32})
 * 0x10000            hvm_start_info (version 1)
 * 0x10100            hvm_modlist_entry for the initrd, if any
 * 0x10200 - 0x11000  hvm_memmap_table_entry[], the {@link BiosMemoryMap}
 * 0x20000 - 0x30000  command line, NUL-terminated
 *         - 0x80000  stack (RSP = {@link #STACK_TOP}; the PVH entry does not promise one)
 * p_paddr            the kernel's segments (1 MiB and up)
 * top of low RAM     the initrd, page-aligned, below 4 GiB, above the kernel
 * </pre>
 *
 * <p>hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h):
 * <pre>
 * 0x00 u32 magic 0x336ec578   0x04 u32 version   0x08 u32 flags   0x0c u32 nr_modules
 * 0x10 u64 modlist_paddr      0x18 u64 cmdline_paddr      0x20 u64 rsdp_paddr (0: the guest scans for ACPI)
 * 0x28 u64 memmap_paddr       0x30 u32 memmap_entries     0x34 u32 reserved
 * hvm_modlist_entry:      u64 paddr, u64 size, u64 cmdline_paddr, u64 reserved
 * hvm_memmap_table_entry: u64 addr, u64 size, u32 type, u32 reserved
 * </pre>
 */
public final class PvhLoader {
    private PvhLoader() {}

    public static final long START_INFO = 0x10000;
    public static final long MODLIST = 0x10100;
    public static final long MEMMAP = 0x10200;
    public static final int MEMMAP_ENTRY_SIZE = 24;
    public static final int MEMMAP_MAX_ENTRIES = (int) ((0x11000 - MEMMAP) / MEMMAP_ENTRY_SIZE);
    public static final long CMDLINE = 0x20000;
    /** Room for the command line at {@link #CMDLINE}, NUL included (Linux itself keeps 2048 bytes of it). */
    public static final int CMDLINE_AREA = 0x10000;
    public static final long STACK_TOP = 0x80000;

    public static final int START_INFO_MAGIC = 0x336ec578;
    public static final int START_INFO_VERSION = 1;
    public static final int START_INFO_SIZE = 0x38;
    public static final String XEN_NOTE_OWNER = "Xen";
    public static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;

    /**
     * Places {@code kernel} (a vmlinux ELF or a bzImage) with {@code cmdline} and an optional {@code initrd} (null or
     * empty for none) and returns how to enter it. Everything is validated before guest memory is written.
     */
    public static EntryPoint load(GuestMemory memory, byte[] kernel, String cmdline, byte[] initrd) {
        ElfImage elf = ElfImage.parse(SetupHeader.isBzImage(kernel) ? VmlinuxExtractor.extract(kernel) : kernel);
        long entry = pvhEntry(elf);
        List<ElfSegment> segments = ElfLoader.checkSegments(memory, elf);
        if (segments.stream().noneMatch(s -> entry >= s.paddr() && entry - s.paddr() < s.fileSize())) {
            throw new InvalidImageException(String.format("the PVH entry 0x%x is not inside any PT_LOAD segment of the kernel", entry));
        }
        List<BiosMemoryMap.Entry> memmap = BiosMemoryMap.of(memory.layout());
        if (memmap.size() > MEMMAP_MAX_ENTRIES) {
            throw new IllegalArgumentException("guest RAM has " + memmap.size() + " memory map entries, at most " + MEMMAP_MAX_ENTRIES + " fit");
        }
        byte[] commandLine = KernelInputs.commandLine(cmdline, CMDLINE_AREA - 1);
        boolean hasInitrd = initrd != null && initrd.length > 0;
        long initrdAddress = hasInitrd ? KernelInputs.initrdAddress(memory, initrd.length, ElfLoader.end(segments), 1L << 32) : 0;

        BootGdt.write(memory);
        ElfLoader.copySegments(memory, elf, segments);
        memory.write(CMDLINE, commandLine);
        memory.zero(START_INFO, 0x1000);
        memory.putInt(START_INFO, START_INFO_MAGIC);
        memory.putInt(START_INFO + 0x04, START_INFO_VERSION);
        memory.putLong(START_INFO + 0x18, CMDLINE);
        memory.putLong(START_INFO + 0x28, MEMMAP);
        memory.putInt(START_INFO + 0x30, memmap.size());
        if (hasInitrd) {
            memory.write(initrdAddress, initrd);
            memory.putInt(START_INFO + 0x0c, 1);
            memory.putLong(START_INFO + 0x10, MODLIST);
            memory.putLong(MODLIST, initrdAddress);
            memory.putLong(MODLIST + 8, initrd.length);
        }
        for (int i = 0; i < memmap.size(); i++) {
            BiosMemoryMap.Entry e = memmap.get(i);
            long at = MEMMAP + (long) i * MEMMAP_ENTRY_SIZE;
            memory.putLong(at, e.addr());
            memory.putLong(at + 8, e.size());
            memory.putInt(at + 16, e.type());
        }
        return new EntryPoint(CpuMode.PROTECTED_32, entry, 0, 0, START_INFO, STACK_TOP, 0, false);
    }

    /** The 32-bit physical PVH entry point from the kernel's Xen note (4 or 8 bytes; Linux writes a pointer). */
    public static long pvhEntry(ElfImage elf) {
        ElfNote note = elf.findNote(XEN_NOTE_OWNER, XEN_ELFNOTE_PHYS32_ENTRY).orElseThrow(() -> new InvalidImageException(
                "the kernel has no PVH entry (no Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY): build it with CONFIG_PVH=y"));
        long entry = note.descAsUnsigned();
        if (entry == 0 || entry >= 1L << 32) {
            throw new InvalidImageException(String.format("the kernel's PVH entry 0x%x is not a 32-bit physical address", entry));
        }
        return entry;
    }
}
