package dev.stasis.loader;

import static dev.stasis.loader.BootParamsAssertions.assertMemoryMap;
import static dev.stasis.loader.BootParamsAssertions.cString;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The loaders against a real distribution kernel ({@code linux-image-cloud-amd64}: LZ4 payload, PVH note).
 * Skipped where no {@code /boot/vmlinuz-*} exists.
 */
class DebianKernelTest {
    private static final long RAM = 256 << 20;
    private static final String CMDLINE = "console=ttyS0 clearcpuid=xsave,smap,smep panic=-1";

    private static Path kernelPath;
    private static byte[] bzImage;
    private static byte[] vmlinux;

    @BeforeAll
    static void findKernel() throws IOException {
        Optional<Path> found = Optional.empty();
        if (Files.isDirectory(Path.of("/boot"))) {
            try (Stream<Path> files = Files.list(Path.of("/boot"))) {
                found = files.filter(p -> p.getFileName().toString().startsWith("vmlinuz-") && Files.isReadable(p)).sorted().findFirst();
            }
        }
        assertTrue(found.isPresent(), "no readable /boot/vmlinuz-* on this machine: apt-get install linux-image-cloud-amd64 (.ci/run does)");
        kernelPath = found.get();
        bzImage = Files.readAllBytes(kernelPath);
        vmlinux = VmlinuxExtractor.extract(bzImage);
    }

    private static byte[] initrdOrNull() throws IOException {
        Path initrd = kernelPath.resolveSibling(kernelPath.getFileName().toString().replace("vmlinuz-", "initrd.img-"));
        return Files.isReadable(initrd) ? Files.readAllBytes(initrd) : null;
    }

    @Test
    void extractsAVmlinuxWithAPvhEntry() {
        ElfImage elf = ElfImage.parse(vmlinux);
        assertTrue(elf.loadSegments().size() >= 2, "segments: " + elf.loadSegments());
        assertTrue(elf.notes().stream().anyMatch(n -> n.owner().equals("Xen")));
        long entry = PvhLoader.pvhEntry(elf);
        assertTrue(elf.loadSegments().stream().anyMatch(s -> entry >= s.paddr() && entry < s.paddr() + s.fileSize()),
                "PVH entry 0x" + Long.toHexString(entry) + " lies in the kernel's code");
        assertEquals(0x1000000, elf.entry(), "Debian's kernels start at CONFIG_PHYSICAL_START");
    }

    @Test
    void linuxLoaderBuildsBootParamsByTheBootProtocol() throws IOException {
        byte[] initrd = initrdOrNull();
        SetupHeader h = SetupHeader.parse(bzImage, LinuxLoader.MIN_PROTOCOL);
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(RAM))) {
            EntryPoint entry = LinuxLoader.load(memory, bzImage, CMDLINE, initrd);
            assertEquals(new EntryPoint(CpuMode.LONG_64, 0x100200, IdentityPageTables.PML4, LinuxLoader.BOOT_PARAMS, 0,
                    LinuxLoader.STACK_TOP, 0, false), entry);

            int setup = h.setupSize();
            assertArrayEquals(Arrays.copyOfRange(bzImage, setup, bzImage.length), memory.read(0x100000, bzImage.length - setup));

            ByteBuffer bp = memory.buffer(LinuxLoader.BOOT_PARAMS, 4096);
            assertEquals((short) 0xaa55, bp.getShort(0x1fe));
            assertEquals(0x53726448, bp.getInt(0x202), "HdrS");
            assertTrue((bp.getShort(0x206) & 0xffff) >= 0x020c);
            assertEquals((byte) 0xff, bp.get(0x210));
            assertEquals(0x81, bp.get(0x211) & 0x81, "LOADED_HIGH | CAN_USE_HEAP");
            assertEquals(1, bp.getShort(0x236) & 1, "XLF_KERNEL_64");
            assertEquals(Arrays.toString(Arrays.copyOfRange(bzImage, 0x230, 0x268)),
                    Arrays.toString(memory.read(LinuxLoader.BOOT_PARAMS + 0x230, 0x38)), "kernel_alignment .. init_size as in the image");
            assertEquals(CMDLINE, cString(memory, bp.getInt(0x228), (int) h.cmdlineSize() + 1));

            if (initrd != null) {
                long ramdisk = bp.getInt(0x218) & 0xffffffffL;
                assertEquals(initrd.length, bp.getInt(0x21c));
                assertEquals(0, ramdisk % 4096);
                long workEnd = Math.max(h.prefAddress(), 0x200000) + h.initSize();
                assertTrue(ramdisk >= workEnd, "initrd above the decompression area ending at 0x" + Long.toHexString(workEnd));
                assertTrue(ramdisk + initrd.length <= Math.min(RAM, h.initrdAddrMax() + 1));
                assertArrayEquals(initrd, memory.read(ramdisk, initrd.length));
            }
            assertMemoryMap(BiosMemoryMap.of(memory.layout()), memory, LinuxLoader.BOOT_PARAMS + 0x2d0, bp.get(0x1e8), 20);
            assertEquals(List.of(0L, 0x9fc00L, 0x100000L), BiosMemoryMap.of(memory.layout()).stream().map(BiosMemoryMap.Entry::addr).toList());
        }
    }

    @Test
    void pvhLoaderPlacesSegmentsAndStartInfo() throws IOException {
        byte[] initrd = initrdOrNull();
        ElfImage elf = ElfImage.parse(vmlinux);
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(RAM))) {
            EntryPoint entry = PvhLoader.load(memory, bzImage, CMDLINE, initrd);
            assertEquals(CpuMode.PROTECTED_32, entry.mode());
            assertEquals(PvhLoader.pvhEntry(elf), entry.rip());
            assertEquals(PvhLoader.START_INFO, entry.rbx());

            for (ElfSegment s : elf.loadSegments()) {
                byte[] expected = Arrays.copyOfRange(vmlinux, (int) s.offset(), (int) (s.offset() + s.fileSize()));
                assertArrayEquals(expected, memory.read(s.paddr(), (int) s.fileSize()), "segment at 0x" + Long.toHexString(s.paddr()));
            }

            long si = PvhLoader.START_INFO;
            assertEquals(0x336ec578, memory.getInt(si));
            assertEquals(1, memory.getInt(si + 4));
            assertEquals(CMDLINE, cString(memory, memory.getLong(si + 0x18), 256));
            assertMemoryMap(BiosMemoryMap.of(memory.layout()), memory, memory.getLong(si + 0x28), memory.getInt(si + 0x30), 24);
            if (initrd != null) {
                assertEquals(1, memory.getInt(si + 0x0c));
                long module = memory.getLong(si + 0x10);
                long at = memory.getLong(module);
                assertEquals(initrd.length, memory.getLong(module + 8));
                assertTrue(at >= ElfLoader.end(elf.loadSegments()));
                assertArrayEquals(initrd, memory.read(at, initrd.length));
            }
        }
    }
}
