package dev.stasis.loader;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class ElfLoaderTest {
    private static final long RAM = 16 << 20;
    private static final byte[] TEXT = {(byte) 0xf4, (byte) 0xeb, (byte) 0xfd, 0x11, 0x22, 0x33, 0x44, 0x55};
    private static final byte[] DATA = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

    private final GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(RAM));

    @AfterEach
    void close() {
        memory.close();
    }

    private static byte[] valid() {
        return new ElfBuilder().entry(0x100000).load(0x100000, TEXT, TEXT.length).load(0x300000, DATA, 0x3000).build();
    }

    @Test
    void copiesSegmentsToTheirPhysicalAddressesAndZeroesBss() {
        byte[] junk = new byte[0x4000];
        Arrays.fill(junk, (byte) 0xcc);
        memory.write(0x300000, junk);

        EntryPoint entry = ElfLoader.load(memory, valid());

        assertArrayEquals(TEXT, memory.read(0x100000, TEXT.length));
        assertArrayEquals(DATA, memory.read(0x300000, DATA.length));
        assertArrayEquals(new byte[0x3000 - DATA.length], memory.read(0x300000 + DATA.length, 0x3000 - DATA.length), "bss is zeroed");
        assertEquals(0xcc, memory.getByte(0x303000) & 0xff, "nothing written past p_memsz");
        assertEquals(new EntryPoint(CpuMode.LONG_64, 0x100000, IdentityPageTables.PML4, ParameterBlock.ADDRESS, 0,
                FlatLoader.STACK_TOP, FlatLoader.STACK_STRIDE, true), entry);
        assertEquals(BootGdt.DESCRIPTORS[1], memory.getLong(BootGdt.BASE + BootGdt.CODE64));
        assertEquals(IdentityPageTables.PDPT | 3, memory.getLong(IdentityPageTables.PML4));
    }

    static Stream<Arguments> hostile() {
        return Stream.of(
                bad("bad magic", "bad magic", b -> b.put(0, (byte) 0x7e)),
                bad("32-bit class", "ELFCLASS64", b -> b.put(4, (byte) 1)),
                bad("big-endian", "little-endian", b -> b.put(5, (byte) 2)),
                bad("wrong machine", "EM_X86_64", b -> b.putShort(18, (short) 3)),
                bad("shared object", "ET_EXEC", b -> b.putShort(16, (short) 3)),
                bad("phdr past EOF", "extend past the end", b -> b.putLong(32, b.capacity() - 60)),
                bad("phoff negative", "extend past the end", b -> b.putLong(32, -1L)),
                bad("absurd phnum", "extend past the end", b -> b.putShort(56, (short) 0xffff)),
                bad("no phdrs", "no program headers", b -> b.putShort(56, (short) 0)),
                bad("odd phentsize", "e_phentsize", b -> b.putShort(54, (short) 32)),
                bad("segment past EOF", "extends past the end", b -> b.putLong(64 + 32, 0x1000)),
                bad("segment offset huge", "extends past the end", b -> b.putLong(64 + 8, Long.MAX_VALUE)),
                bad("filesz > memsz", "larger than p_memsz", b -> b.putLong(64 + 40, 4)),
                bad("segment past RAM", "not inside guest RAM", b -> b.putLong(64 + 24, RAM - 4)),
                bad("segment wraps", "beyond any guest address", b -> b.putLong(64 + 24, Long.MAX_VALUE - 2)),
                bad("huge memsz", "not inside guest RAM", b -> b.putLong(64 + 56 + 40, 1L << 40)),
                bad("segment in low memory", "below 0x100000", b -> b.putLong(64 + 24, 0x1000)),
                bad("entry outside", "e_entry 0x200000", b -> b.putLong(24, 0x200000)),
                bad("no load segment", "no PT_LOAD", b -> b.putInt(64, 6).putInt(64 + 56, 6)));
    }

    private static Arguments bad(String name, String message, Consumer<ByteBuffer> corrupt) {
        byte[] elf = valid();
        corrupt.accept(ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN));
        return Arguments.of(name, message, elf);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostile")
    void rejectsHostileImagesWithoutTouchingMemory(String name, String message, byte[] elf) {
        InvalidImageException e = assertThrows(InvalidImageException.class, () -> ElfLoader.load(memory, elf));
        assertTrue(e.getMessage().contains(message), "message '" + e.getMessage() + "' should mention '" + message + "'");
        assertEquals(0, memory.getLong(IdentityPageTables.PML4), "nothing written before validation completes");
    }

    @Test
    void rejectsATruncatedHeader() {
        byte[] elf = Arrays.copyOf(valid(), 40);
        assertTrue(assertThrows(InvalidImageException.class, () -> ElfLoader.load(memory, elf)).getMessage().contains("shorter than"));
    }

    /** Random corruption must end in a loaded image or an InvalidImageException, never anything else. */
    @Test
    void randomCorruptionNeverEscapesAsAnotherException() {
        Random random = new Random(42);
        byte[] original = valid();
        for (int round = 0; round < 3000; round++) {
            byte[] elf = original.clone();
            for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                int at = random.nextInt(Math.min(elf.length, 64 + 3 * 56));
                elf[at] = random.nextInt(3) == 0 ? (byte) 0xff : (byte) random.nextInt(256);
            }
            try {
                ElfLoader.load(memory, elf);
            } catch (InvalidImageException expected) {
                // fine
            } catch (RuntimeException e) {
                fail("round " + round + ": " + e, e);
            }
        }
    }
}
