package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import java.util.List;

/**
 * Boots a Linux bzImage through the 64-bit boot protocol (Documentation/arch/x86/boot.rst, protocol 2.12+):
 * the protected-mode kernel is copied to {@link #LOAD_ADDRESS}, a {@code boot_params} ("zero page") carrying the
 * image's setup header, the command line, the initrd and an E820 map goes to {@link #BOOT_PARAMS}, and vCPU 0
 * enters in long mode at {@code LOAD_ADDRESS + 0x200} with RSI = boot_params. The other vCPUs wait for INIT/SIPI.
 *
 * <p>Guest memory at entry:
 * <pre>
 * 0x00500            GDT ({@link BootGdt})
 * 0x01000 - 0x07000  identity page tables ({@link IdentityPageTables}; they map the 4 GiB the protocol needs)
 * 0x10000 - 0x11000  boot_params
 * 0x20000 - 0x30000  command line, NUL-terminated
 *         - 0x80000  stack (RSP = {@link #STACK_TOP}; the kernel soon switches to its own)
 * 0x100000           the protected-mode kernel; it decompresses itself within init_size bytes of
 *                    max(pref_address, 0x100000 aligned up to kernel_alignment), all of which must be RAM
 * top of low RAM     the initrd, page-aligned, below initrd_addr_max and above the kernel's working area
 * </pre>
 */
public final class LinuxLoader {
    private LinuxLoader() {}

    public static final long LOAD_ADDRESS = 0x100000;
    /** The 64-bit entry point's offset from the start of the protected-mode kernel. */
    public static final long ENTRY_64_OFFSET = 0x200;
    public static final long BOOT_PARAMS = 0x10000;
    public static final long CMDLINE = 0x20000;
    /** Room for the command line at {@link #CMDLINE}, NUL included. */
    public static final int CMDLINE_AREA = 0x10000;
    public static final long STACK_TOP = 0x80000;
    public static final int MIN_PROTOCOL = 0x020c;

    /** boot_params outside the setup header. */
    public static final int E820_ENTRIES = 0x1e8;
    public static final int E820_TABLE = 0x2d0;
    public static final int E820_ENTRY_SIZE = 20;
    public static final int E820_MAX_ENTRIES = 128;
    public static final int BOOT_PARAMS_SIZE = 4096;

    /** type_of_loader for a boot loader without an assigned id. */
    public static final int LOADER_UNDEFINED = 0xff;
    /**
     * heap_end_ptr: where the real-mode setup code's heap ends, relative to that code, minus 0x200. This loader
     * skips the setup code, so the value only has to be the conventional one (64 KiB segment less 0x200).
     */
    public static final int HEAP_END = 0xfe00;

    /**
     * Places {@code bzImage} with {@code cmdline} and an optional {@code initrd} (null or empty for none) and returns
     * how to enter it. Everything is validated before guest memory is written.
     */
    public static EntryPoint load(GuestMemory memory, byte[] bzImage, String cmdline, byte[] initrd) {
        SetupHeader h = SetupHeader.parse(bzImage, MIN_PROTOCOL);
        if ((h.loadflags() & SetupHeader.LOADED_HIGH) == 0) {
            throw new InvalidImageException("the Linux kernel is not a bzImage (LOADED_HIGH is clear in loadflags): it would load below 1 MiB");
        }
        if ((h.xloadflags() & SetupHeader.XLF_KERNEL_64) == 0) {
            throw new InvalidImageException("the Linux kernel has no 64-bit entry point (XLF_KERNEL_64 is clear in xloadflags)");
        }
        int kernelSize = bzImage.length - h.setupSize();
        long kernelEnd = Math.max(LOAD_ADDRESS + kernelSize, workingAreaStart(h) + h.initSize());
        if (memory.layout().find(LOAD_ADDRESS, kernelEnd - LOAD_ADDRESS) == null) {
            throw new InvalidImageException(String.format("the Linux kernel needs RAM [0x%x, 0x%x) (init_size 0x%x) but guest RAM is %s",
                    LOAD_ADDRESS, kernelEnd, h.initSize(), memory.layout().ranges()));
        }
        List<BiosMemoryMap.Entry> e820 = BiosMemoryMap.of(memory.layout());
        if (e820.size() > E820_MAX_ENTRIES) {
            throw new IllegalArgumentException("guest RAM has " + e820.size() + " E820 entries, boot_params holds " + E820_MAX_ENTRIES);
        }
        byte[] commandLine = KernelInputs.commandLine(cmdline, Math.min(h.cmdlineSize(), CMDLINE_AREA - 1));
        boolean hasInitrd = initrd != null && initrd.length > 0;
        long initrdAddress = hasInitrd ? KernelInputs.initrdAddress(memory, initrd.length, kernelEnd, h.initrdAddrMax() + 1) : 0;

        BootGdt.write(memory);
        long cr3 = IdentityPageTables.write(memory);
        memory.write(LOAD_ADDRESS, bzImage, h.setupSize(), kernelSize);
        memory.write(CMDLINE, commandLine);
        if (hasInitrd) {
            memory.write(initrdAddress, initrd);
        }
        memory.zero(BOOT_PARAMS, BOOT_PARAMS_SIZE);
        memory.write(BOOT_PARAMS + SetupHeader.SETUP_SECTS, bzImage, SetupHeader.SETUP_SECTS, h.headerEnd() - SetupHeader.SETUP_SECTS);
        memory.putByte(BOOT_PARAMS + SetupHeader.TYPE_OF_LOADER, (byte) LOADER_UNDEFINED);
        memory.putByte(BOOT_PARAMS + SetupHeader.LOADFLAGS, (byte) (h.loadflags() | SetupHeader.CAN_USE_HEAP));
        memory.putInt(BOOT_PARAMS + SetupHeader.CODE32_START, (int) LOAD_ADDRESS);
        memory.putShort(BOOT_PARAMS + SetupHeader.HEAP_END_PTR, (short) HEAP_END);
        memory.putInt(BOOT_PARAMS + SetupHeader.CMD_LINE_PTR, (int) CMDLINE);
        memory.putInt(BOOT_PARAMS + SetupHeader.RAMDISK_IMAGE, (int) initrdAddress);
        memory.putInt(BOOT_PARAMS + SetupHeader.RAMDISK_SIZE, hasInitrd ? initrd.length : 0);
        memory.putByte(BOOT_PARAMS + E820_ENTRIES, (byte) e820.size());
        for (int i = 0; i < e820.size(); i++) {
            BiosMemoryMap.Entry e = e820.get(i);
            long at = BOOT_PARAMS + E820_TABLE + (long) i * E820_ENTRY_SIZE;
            memory.putLong(at, e.addr());
            memory.putLong(at + 8, e.size());
            memory.putInt(at + 16, e.type());
        }
        return new EntryPoint(CpuMode.LONG_64, LOAD_ADDRESS + ENTRY_64_OFFSET, cr3, BOOT_PARAMS, 0, STACK_TOP, 0, false);
    }

    /**
     * Where the kernel decompresses itself (arch/x86/boot/compressed/head_64.S): a relocatable kernel at its load
     * address aligned up to kernel_alignment, but never below pref_address (LOAD_PHYSICAL_ADDR); a fixed one at
     * pref_address.
     */
    static long workingAreaStart(SetupHeader h) {
        long preferred = h.prefAddress() == 0 ? LOAD_ADDRESS : h.prefAddress();
        if (preferred < LOAD_ADDRESS || preferred > MemoryLayout.MAX_MEMORY) {
            throw new InvalidImageException(String.format("the Linux kernel's pref_address 0x%x is outside [1 MiB, 1 TiB]", preferred));
        }
        if (!h.relocatable()) {
            return preferred;
        }
        long align = h.kernelAlignment();
        if (align < KernelInputs.PAGE || Long.bitCount(align) != 1 || align > (1L << 30)) {
            throw new InvalidImageException(String.format("the Linux kernel's kernel_alignment 0x%x is not a power of two between 4 KiB and 1 GiB", align));
        }
        return Math.max((LOAD_ADDRESS + align - 1) & -align, preferred);
    }
}
