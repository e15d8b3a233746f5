package dev.stasis.loader.multiboot;

import dev.stasis.loader.ElfSegment;
import dev.stasis.loader.InvalidImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** The parts of an ELF32 i386 executable a Multiboot loader needs: its entry and PT_LOAD segments, bounds-checked. */
record Elf32Image(long entry, List<ElfSegment> loadSegments) {
    private static final int EHDR_SIZE = 52, PHDR_SIZE = 32, EM_386 = 3, ET_EXEC = 2;

    static boolean isElf32(byte[] f) {
        return f.length >= 5 && f[0] == 0x7f && f[1] == 'E' && f[2] == 'L' && f[3] == 'F' && f[4] == 1;
    }

    static Elf32Image parse(byte[] f) {
        if (f.length < EHDR_SIZE) {
            throw new InvalidImageException("ELF32 image of " + f.length + " bytes is shorter than the 52-byte ELF header");
        }
        ByteBuffer b = ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
        if (f[5] != 1) {
            throw new InvalidImageException("ELF32 image is not little-endian (EI_DATA " + f[5] + ")");
        }
        int machine = Short.toUnsignedInt(b.getShort(18));
        if (machine != EM_386) {
            throw new InvalidImageException("ELF32 image is for machine " + machine + " (e_machine), not i386 (EM_386 = 3)");
        }
        int type = Short.toUnsignedInt(b.getShort(16));
        if (type != ET_EXEC) {
            throw new InvalidImageException("ELF32 image type (e_type) is " + type + ", expected an executable (ET_EXEC = 2)");
        }
        long phoff = Integer.toUnsignedLong(b.getInt(28));
        int phentsize = Short.toUnsignedInt(b.getShort(42));
        int phnum = Short.toUnsignedInt(b.getShort(44));
        if (phentsize != PHDR_SIZE || phnum == 0 || phoff + (long) phnum * PHDR_SIZE > f.length) {
            throw new InvalidImageException(String.format("ELF32 program headers (%d of %d bytes at 0x%x) do not fit the %d-byte file",
                    phnum, phentsize, phoff, f.length));
        }
        List<ElfSegment> load = new ArrayList<>();
        for (int i = 0; i < phnum; i++) {
            int at = (int) phoff + i * PHDR_SIZE;
            ElfSegment s = new ElfSegment(b.getInt(at), b.getInt(at + 24), u32(b, at + 4), u32(b, at + 8), u32(b, at + 12),
                    u32(b, at + 16), u32(b, at + 20), u32(b, at + 28));
            if (s.type() != ElfSegment.PT_LOAD || s.memSize() == 0) {
                continue;
            }
            if (s.offset() + s.fileSize() > f.length || s.fileSize() > s.memSize()) {
                throw new InvalidImageException(String.format("ELF32 program header %d: file bytes 0x%x + 0x%x (memory 0x%x) do not fit the %d-byte file",
                        i, s.offset(), s.fileSize(), s.memSize(), f.length));
            }
            load.add(s);
        }
        if (load.isEmpty()) {
            throw new InvalidImageException("ELF32 image has no PT_LOAD segment with a non-zero size");
        }
        return new Elf32Image(u32(b, 24), List.copyOf(load));
    }

    private static long u32(ByteBuffer b, int at) {
        return Integer.toUnsignedLong(b.getInt(at));
    }
}
