package dev.stasis.loader;

import static dev.stasis.loader.BootParamsAssertions.assertMemoryMap;
import static dev.stasis.loader.BootParamsAssertions.cString;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class PvhLoaderTest {
    private static final long LOW = 64 << 20;
    private static final long SI = PvhLoader.START_INFO;
    private static final byte[] TEXT = {0x0f, 0x01, (byte) 0xc1, 0x55, 0x66, 0x77, (byte) 0x88, (byte) 0x99};

    private final GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(LOW));

    @AfterEach
    void close() {
        memory.close();
    }

    private static byte[] vmlinux(long pvhEntry) {
        return new ElfBuilder().entry(0x1000000)
                .load(0x1000000, TEXT, TEXT.length)
                .load(0x1200000, new byte[] {42}, 0x2000)
                .notes("Xen", 6, "linux\0".getBytes(), "Xen", PvhLoader.XEN_ELFNOTE_PHYS32_ENTRY, ElfBuilder.le64(pvhEntry))
                .build();
    }

    @Test
    void placesSegmentsAndStartInfo() {
        byte[] initrd = {9, 8, 7, 6, 5};
        EntryPoint entry = PvhLoader.load(memory, vmlinux(0x1000004), "console=hvc0", initrd);

        assertEquals(new EntryPoint(CpuMode.PROTECTED_32, 0x1000004, 0, 0, SI, PvhLoader.STACK_TOP, 0, false), entry);
        assertArrayEquals(TEXT, memory.read(0x1000000, TEXT.length));
        assertEquals(42, memory.getByte(0x1200000));
        assertArrayEquals(new byte[0x1fff], memory.read(0x1200001, 0x1fff));
        assertEquals(BootGdt.DESCRIPTORS[3], memory.getLong(BootGdt.BASE + BootGdt.CODE32));

        assertEquals(0x336ec578, memory.getInt(SI));
        assertEquals(1, memory.getInt(SI + 4), "version");
        assertEquals(0, memory.getInt(SI + 8), "flags");
        assertEquals(1, memory.getInt(SI + 0x0c), "nr_modules");
        assertEquals("console=hvc0", cString(memory, memory.getLong(SI + 0x18), 64));
        assertEquals(0, memory.getLong(SI + 0x20), "rsdp_paddr");

        long module = memory.getLong(SI + 0x10);
        long initrdAt = memory.getLong(module);
        assertEquals(initrd.length, memory.getLong(module + 8));
        assertEquals(0, memory.getLong(module + 16), "module cmdline");
        assertEquals(0, initrdAt % 4096);
        assertTrue(initrdAt >= 0x1202000 && initrdAt + initrd.length <= LOW);
        assertArrayEquals(initrd, memory.read(initrdAt, initrd.length));

        assertMemoryMap(List.of(
                new BiosMemoryMap.Entry(0, 0x9fc00, 1),
                new BiosMemoryMap.Entry(0x9fc00, 0x100000 - 0x9fc00, 2),
                new BiosMemoryMap.Entry(0x100000, LOW - 0x100000, 1)),
                memory, memory.getLong(SI + 0x28), memory.getInt(SI + 0x30), 24);
    }

    @Test
    void acceptsABzImageWrappingTheVmlinux() {
        BzImageBuilder builder = new BzImageBuilder();
        builder.payload = VmlinuxExtractorTest.gzip(vmlinux(0x1000000));
        assertEquals(0x1000000, PvhLoader.load(memory, builder.build(), "", null).rip());
        assertArrayEquals(TEXT, memory.read(0x1000000, TEXT.length));
        assertEquals(0, memory.getInt(SI + 0x0c), "no modules");
    }

    @Test
    void rejectsKernelsWithoutAUsablePvhEntry() {
        byte[] noNote = new ElfBuilder().entry(0x1000000).load(0x1000000, TEXT, TEXT.length).build();
        assertTrue(assertThrows(InvalidImageException.class, () -> PvhLoader.load(memory, noNote, "", null))
                .getMessage().contains("CONFIG_PVH"));
        assertTrue(assertThrows(InvalidImageException.class, () -> PvhLoader.load(memory, vmlinux(0x5000000), "", null))
                .getMessage().contains("not inside any PT_LOAD"));
        assertTrue(assertThrows(InvalidImageException.class, () -> PvhLoader.load(memory, vmlinux(1L << 32), "", null))
                .getMessage().contains("not a 32-bit physical address"));
        assertEquals(0, memory.getInt(SI), "nothing written");
    }
}
