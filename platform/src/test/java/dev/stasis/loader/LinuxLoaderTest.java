package dev.stasis.loader;

import static dev.stasis.loader.BootParamsAssertions.assertMemoryMap;
import static dev.stasis.loader.BootParamsAssertions.cString;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

class LinuxLoaderTest {
    private static final long BP = LinuxLoader.BOOT_PARAMS;
    private static final long LOW = 64 << 20;

    private static byte[] initrd(int size) {
        byte[] initrd = new byte[size];
        for (int i = 0; i < size; i++) {
            initrd[i] = (byte) (i * 31 + 5);
        }
        return initrd;
    }

    @Test
    void placesKernelBootParamsCommandLineAndInitrd() {
        byte[] image = new BzImageBuilder().build();
        byte[] initrd = initrd(100_000);
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(LOW))) {
            EntryPoint entry = LinuxLoader.load(memory, image, "console=ttyS0 root=/dev/vda", initrd);

            assertEquals(new EntryPoint(CpuMode.LONG_64, 0x100200, IdentityPageTables.PML4, BP, 0, LinuxLoader.STACK_TOP, 0, false), entry);
            byte[] kernel = Arrays.copyOfRange(image, BzImageBuilder.SETUP_SIZE, image.length);
            assertArrayEquals(kernel, memory.read(LinuxLoader.LOAD_ADDRESS, kernel.length), "protected-mode kernel at 1 MiB");

            // The header is the image's, with the loader's fields filled in.
            ByteBuffer bp = memory.buffer(BP, LinuxLoader.BOOT_PARAMS_SIZE);
            assertEquals(BzImageBuilder.SETUP_SECTS, bp.get(0x1f1));
            assertEquals((short) 0xaa55, bp.getShort(0x1fe));
            assertEquals(SetupHeader.HEADER_MAGIC, bp.getInt(0x202));
            assertEquals(0x020f, bp.getShort(0x206));
            assertEquals((byte) 0xff, bp.get(0x210), "type_of_loader");
            assertEquals(SetupHeader.LOADED_HIGH | SetupHeader.CAN_USE_HEAP, bp.get(0x211) & 0xff, "loadflags");
            assertEquals(0x100000, bp.getInt(0x214), "code32_start");
            assertEquals(0xfe00, bp.getShort(0x224) & 0xffff, "heap_end_ptr");
            assertEquals(0x400000, bp.getInt(0x260), "init_size copied");
            assertEquals(0x12345678, bp.getInt(0x268), "the header is copied up to 0x202 + jump");
            assertEquals(0, bp.get(0x26c), "and no further");

            assertEquals(LinuxLoader.CMDLINE, bp.getInt(0x228) & 0xffffffffL);
            assertEquals("console=ttyS0 root=/dev/vda", cString(memory, bp.getInt(0x228), 100));

            long ramdisk = bp.getInt(0x218) & 0xffffffffL;
            assertEquals(initrd.length, bp.getInt(0x21c));
            assertEquals(0, ramdisk % 4096, "page aligned");
            assertTrue(ramdisk >= 0x1000000 + 0x400000, "above the kernel's working area (pref_address + init_size)");
            assertTrue(ramdisk + initrd.length <= LOW && ramdisk + initrd.length > LOW - 4096, "at the top of low RAM");
            assertArrayEquals(initrd, memory.read(ramdisk, initrd.length));

            assertMemoryMap(List.of(
                    new BiosMemoryMap.Entry(0, 0x9fc00, 1),
                    new BiosMemoryMap.Entry(0x9fc00, 0x100000 - 0x9fc00, 2),
                    new BiosMemoryMap.Entry(0x100000, LOW - 0x100000, 1)),
                    memory, BP + 0x2d0, bp.get(0x1e8), 20);
            assertEquals(IdentityPageTables.PDPT | 3, memory.getLong(IdentityPageTables.PML4));
        }
    }

    @Test
    void reportsRamAbove4GibInE820AndWorksWithoutInitrd() {
        MemoryLayout layout = new MemoryLayout(List.of(new MemoryRange(0, LOW), new MemoryRange(4L << 30, 8 << 20)));
        try (GuestMemory memory = new GuestMemory(layout)) {
            LinuxLoader.load(memory, new BzImageBuilder().build(), "", null);
            assertEquals(0, memory.getInt(BP + 0x218));
            assertEquals(0, memory.getInt(BP + 0x21c));
            assertEquals("", cString(memory, LinuxLoader.CMDLINE, 4));
            assertMemoryMap(List.of(
                    new BiosMemoryMap.Entry(0, 0x9fc00, 1),
                    new BiosMemoryMap.Entry(0x9fc00, 0x100000 - 0x9fc00, 2),
                    new BiosMemoryMap.Entry(0x100000, LOW - 0x100000, 1),
                    new BiosMemoryMap.Entry(4L << 30, 8 << 20, 1)),
                    memory, BP + 0x2d0, memory.getByte(BP + 0x1e8), 20);
        }
    }

    @Test
    void keepsTheInitrdBelowInitrdAddrMax() {
        BzImageBuilder builder = new BzImageBuilder();
        builder.initrdAddrMax = (48 << 20) - 1;
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(LOW))) {
            LinuxLoader.load(memory, builder.build(), "", initrd(5000));
            long ramdisk = memory.getInt(BP + 0x218);
            assertEquals((48 << 20) - 8192, ramdisk);
        }
    }

    private static void rejects(String message, Consumer<BzImageBuilder> change) {
        BzImageBuilder builder = new BzImageBuilder();
        change.accept(builder);
        rejects(message, builder.build(), "", null);
    }

    private static void rejects(String message, byte[] image, String cmdline, byte[] initrd) {
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(LOW))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LinuxLoader.load(memory, image, cmdline, initrd));
            assertTrue(e.getMessage().contains(message), "message '" + e.getMessage() + "' should mention '" + message + "'");
            assertEquals(0, memory.getLong(IdentityPageTables.PML4), "nothing written before validation completes");
        }
    }

    @Test
    void rejectsKernelsItCannotBoot() {
        rejects("2.11 is too old", b -> b.version = 0x020b);
        rejects("XLF_KERNEL_64", b -> b.xloadflags = 0);
        rejects("LOADED_HIGH", b -> b.loadflags = 0);
        rejects("needs RAM [0x100000, 0x5000000)", b -> b.initSize = 0x4000000);
        rejects("kernel_alignment 0x3000", b -> b.kernelAlignment = 0x3000);
        rejects("pref_address", b -> b.prefAddress = -4096);
    }

    @Test
    void rejectsBrokenHeaders() {
        byte[] noMagic = new BzImageBuilder().build();
        noMagic[0x202] = 'X';
        rejects("\"HdrS\"", noMagic, "", null);
        byte[] longHeader = new BzImageBuilder().build();
        longHeader[0x201] = (byte) 0xff;
        rejects("past the 0x290", longHeader, "", null);
        byte[] allSetup = new BzImageBuilder().build();
        allSetup[0x1f1] = (byte) 200;
        rejects("no protected-mode kernel", allSetup, "", null);
    }

    @Test
    void rejectsInputsThatDoNotFit() {
        byte[] image = new BzImageBuilder().build();
        rejects("at most 2047", image, "x".repeat(2048), null);
        rejects("NUL", image, "a\0b", null);
        rejects("the initrd (", image, "", new byte[(int) LOW - 0x1000000]);
    }
}
