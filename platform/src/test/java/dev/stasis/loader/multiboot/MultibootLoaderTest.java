package dev.stasis.loader.multiboot;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.loader.BiosMemoryMap;
import dev.stasis.loader.CpuMode;
import dev.stasis.loader.EntryPoint;
import dev.stasis.loader.InvalidImageException;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The Multiboot loader against the specifications, with synthetic kernels that load by their header's address
 * fields (so no toolchain is needed): where everything goes, what the information structures hold, and one
 * clear refusal for each kind of bad kernel. The real kernel (ELF32, both versions) runs in MultibootTest.
 */
class MultibootLoaderTest {
    static final long RAM = 32 << 20;
    private final GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(RAM));

    @AfterEach
    void close() {
        memory.close();
    }

    /** A Multiboot 1 kernel with address fields: header at file offset 0, loaded at 2 MiB, 64 KiB of bss. */
    static byte[] v1(int flags, long loadAddr, int fileSize, long bssBytes) {
        ByteBuffer b = ByteBuffer.allocate(fileSize).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x1BADB002).putInt(flags).putInt(-(0x1BADB002 + flags));
        b.putInt((int) loadAddr).putInt((int) loadAddr).putInt((int) (loadAddr + fileSize)).putInt((int) (loadAddr + fileSize + bssBytes))
                .putInt((int) loadAddr + 32);
        b.put(32, (byte) 0xf4); // the "kernel": hlt at its entry
        return b.array();
    }

    static byte[] v1(int flags) {
        return v1(flags, 2 << 20, 4096, 64 << 10);
    }

    /** A Multiboot 2 kernel with an address and entry tag, loaded at 2 MiB, plus {@code extra} tags (each 8-aligned). */
    static byte[] v2(byte[]... extra) {
        int tagsLength = 24 + 16 + 8;
        for (byte[] t : extra) {
            tagsLength += t.length;
        }
        int headerLength = 16 + tagsLength;
        ByteBuffer b = ByteBuffer.allocate(8192).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xE85250D6).putInt(0).putInt(headerLength).putInt(-(0xE85250D6 + headerLength));
        b.putShort((short) 2).putShort((short) 0).putInt(24).putInt(2 << 20).putInt(2 << 20).putInt((2 << 20) + 8192).putInt((2 << 20) + (1 << 16));
        b.putShort((short) 3).putShort((short) 0).putInt(12).putInt((2 << 20) + 4096).putInt(0);
        for (byte[] t : extra) {
            b.put(t);
        }
        b.putShort((short) 0).putShort((short) 0).putInt(8);
        b.put(4096, (byte) 0xf4);
        return b.array();
    }

    static byte[] tag(int type, int flags, int... words) {
        int size = 8 + 4 * words.length;
        ByteBuffer b = ByteBuffer.allocate((size + 7) & ~7).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) type).putShort((short) flags).putInt(size);
        for (int w : words) {
            b.putInt(w);
        }
        return b.array();
    }

    private String refusal(byte[] kernel, List<Module> modules) {
        InvalidImageException e = assertThrows(InvalidImageException.class, () -> MultibootLoader.load(memory, kernel, "", modules));
        assertFalse(e.getMessage().contains("\n"));
        assertEquals(0, memory.getLong(2 << 20), "nothing written to guest memory before the image is accepted");
        return e.getMessage();
    }

    private String cString(long gpa) {
        StringBuilder s = new StringBuilder();
        for (long a = gpa; memory.getByte(a) != 0; a++) {
            s.append((char) memory.getByte(a));
        }
        return s.toString();
    }

    @Test
    void version1PlacesKernelInfoAndModulesAsTheSpecificationSays() {
        byte[] mod = "module bytes".getBytes(StandardCharsets.US_ASCII);
        EntryPoint entry = MultibootLoader.load(memory, v1(0x10003), "root=/dev/x quiet",
                List.of(new Module(mod, "first"), new Module(new byte[5000], "second")));
        assertEquals(CpuMode.PROTECTED_32, entry.mode());
        assertEquals(0x2BADB002L, entry.rax());
        assertEquals((2 << 20) + 32, entry.rip());
        assertFalse(entry.allVcpus(), "only the boot vCPU starts; the others wait for INIT/SIPI");
        assertEquals((byte) 0xf4, memory.getByte((2 << 20) + 32));
        long info = entry.rbx();
        assertEquals(0, info % 4096);
        assertTrue(info >= (2 << 20) + 4096 + (64 << 10), "the information structure goes after the kernel and its bss");
        int flags = memory.getInt(info);
        assertEquals(0x24d, flags, "memory, command line, modules, memory map, boot loader name");
        assertEquals(639, memory.getInt(info + 4), "mem_lower: 639 KiB below the EBDA");
        assertEquals((RAM - (1 << 20)) / 1024, memory.getInt(info + 8));
        assertEquals("root=/dev/x quiet", cString(memory.getInt(info + 16)));
        assertEquals("stasis", cString(memory.getInt(info + 64)));
        assertEquals(2, memory.getInt(info + 20));
        long mods = memory.getInt(info + 24);
        long start1 = memory.getInt(mods), end1 = memory.getInt(mods + 4), start2 = memory.getInt(mods + 16);
        assertEquals(0, start1 % 4096, "modules are page-aligned");
        assertEquals(mod.length, end1 - start1);
        assertArrayEquals(mod, memory.read(start1, mod.length));
        assertEquals("first", cString(memory.getInt(mods + 8)));
        assertEquals("second", cString(memory.getInt(mods + 24)));
        assertTrue(start2 >= end1 && start2 % 4096 == 0);
        var map = BiosMemoryMap.of(memory.layout());
        long mmap = memory.getInt(info + 48);
        assertEquals(24L * map.size(), memory.getInt(info + 44));
        for (int i = 0; i < map.size(); i++) {
            long e = mmap + 24L * i;
            assertEquals(20, memory.getInt(e));
            assertEquals(map.get(i).addr(), memory.getLong(e + 4));
            assertEquals(map.get(i).size(), memory.getLong(e + 12));
            assertEquals(map.get(i).type(), memory.getInt(e + 20));
        }
        assertEquals(0, memory.getLong((2 << 20) + 4096 + 8), "bss is zeroed");
    }

    @Test
    void version2GivesTheInformationAsTags() {
        EntryPoint entry = MultibootLoader.load(memory, v2(), "a b", List.of(new Module(new byte[] {1, 2, 3}, "m1")));
        assertEquals(0x36d76289L, entry.rax());
        assertEquals((2 << 20) + 4096, entry.rip(), "the entry address tag");
        long info = entry.rbx();
        int total = memory.getInt(info);
        List<Integer> types = new java.util.ArrayList<>();
        for (long t = info + 8; ; ) {
            int type = memory.getInt(t), size = memory.getInt(t + 4);
            types.add(type);
            switch (type) {
                case 1 -> assertEquals("a b", cString(t + 8));
                case 2 -> assertEquals("stasis", cString(t + 8));
                case 3 -> {
                    assertEquals(3, memory.getInt(t + 12) - memory.getInt(t + 8));
                    assertEquals("m1", cString(t + 16));
                }
                case 4 -> assertEquals((RAM - (1 << 20)) / 1024, memory.getInt(t + 12));
                case 6 -> {
                    assertEquals(24, memory.getInt(t + 8), "entry size");
                    assertEquals(BiosMemoryMap.of(memory.layout()).size(), (size - 16) / 24);
                }
                default -> { }
            }
            if (type == 0) {
                assertEquals(8, size);
                assertEquals(info + total, t + 8, "total_size covers every tag up to the end tag");
                break;
            }
            t += (size + 7) & ~7;
        }
        assertEquals(List.of(1, 2, 3, 4, 6, 0), types);
    }

    @Test
    void badKernelsAreRefusedInOneLineEach() {
        byte[] badSum = v1(0x10003);
        badSum[8] ^= 1;
        assertTrue(refusal(badSum, List.of()).contains("checksum"));
        assertTrue(refusal(v1(0x10007), List.of()).contains("requires a video mode (header flag 2)"));
        assertTrue(refusal(v1(0x10013), List.of()).contains("requires features stasis does not know (header flags 0x10)"));
        assertTrue(refusal(v1(0x10003, 40L << 20, 4096, 0), List.of()).contains("does not fit in guest RAM"), "loaded beyond RAM");
        assertTrue(refusal(v1(0x10003), List.of(new Module(new byte[(int) RAM], "big"))).startsWith("module 1 ("));
        assertTrue(refusal(new byte[8192], List.of()).startsWith("no Multiboot header in the first 8 KiB"));
        assertTrue(refusal(v1(0x3), List.of()).contains("not an ELF image and its header gives no load addresses"));
        byte[] withElf = new byte[8192];
        System.arraycopy(new byte[] {0x7f, 'E', 'L', 'F', 1, 1, 1}, 0, withElf, 0, 7);
        ByteBuffer.wrap(withElf).order(ByteOrder.LITTLE_ENDIAN).putShort(16, (short) 2).putShort(18, (short) 40)
                .putInt(64, 0x1BADB002).putInt(68, 0x3).putInt(72, -(0x1BADB002 + 3));
        assertTrue(refusal(withElf, List.of()).contains("is for machine 40 (e_machine), not i386"));
        assertTrue(refusal(v2(tag(5, 0, 1024, 768, 32)), List.of()).contains("requires a framebuffer (video mode)"));
        assertTrue(refusal(v2(tag(1, 0, 1, 8)), List.of()).contains("requires boot information tag 8"));
        assertTrue(refusal(v2(tag(4, 0, 1)), List.of()).contains("console"));
        assertTrue(refusal(v2(tag(7, 0)), List.of()).contains("EFI boot services"));
        byte[] arch = v2();
        ByteBuffer.wrap(arch).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 4).putInt(12, -(0xE85250D6 + 4 + ByteBuffer.wrap(arch).order(ByteOrder.LITTLE_ENDIAN).getInt(8)));
        assertTrue(refusal(arch, List.of()).contains("architecture 4 is not i386"));
    }

    @Test
    void optionalTagsStasisCannotMeetAreIgnored() {
        EntryPoint entry = MultibootLoader.load(memory, v2(tag(5, 1, 1024, 768, 32), tag(1, 1, 8), tag(7, 1)), "", List.of());
        assertEquals(0x36d76289L, entry.rax());
    }
}
