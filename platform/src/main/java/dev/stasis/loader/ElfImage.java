package dev.stasis.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A validated ELF64 little-endian x86-64 executable (ET_EXEC), the form of test guests and of Linux's
 * {@code vmlinux}. Parsing is the file-only half of validation: every header, program header and note lies
 * inside the file; whether segments fit a guest is {@link ElfLoader}'s half. The image is untrusted, so every
 * count and offset is checked before it is used and a bad file gives an {@link InvalidImageException}.
 */
public final class ElfImage {
    private static final int EHDR_SIZE = 64;
    private static final int PHDR_SIZE = 56;
    private static final int ELFCLASS64 = 2;
    private static final int ELFDATA2LSB = 1;
    private static final int EV_CURRENT = 1;
    private static final int ET_EXEC = 2;
    private static final int EM_X86_64 = 62;
    /** More notes than this in one image is not a kernel; stops a hostile note segment early. */
    private static final int MAX_NOTES = 4096;

    private final byte[] file;
    private final long entry;
    private final List<ElfSegment> segments;

    private ElfImage(byte[] file, long entry, List<ElfSegment> segments) {
        this.file = file;
        this.entry = entry;
        this.segments = segments;
    }

    /** True when {@code data} starts with the ELF magic (whatever else is wrong with it). */
    public static boolean hasElfMagic(byte[] data) {
        return data.length >= 4 && data[0] == 0x7f && data[1] == 'E' && data[2] == 'L' && data[3] == 'F';
    }

    public static ElfImage parse(byte[] file) {
        if (file.length < EHDR_SIZE) {
            throw new InvalidImageException("ELF image of " + file.length + " bytes is shorter than the 64-byte ELF header");
        }
        if (!hasElfMagic(file)) {
            throw new InvalidImageException("not an ELF image: bad magic " + String.format("%02x %02x %02x %02x", file[0], file[1], file[2], file[3]));
        }
        expect(file[4], ELFCLASS64, "class (EI_CLASS)", "ELFCLASS64");
        expect(file[5], ELFDATA2LSB, "byte order (EI_DATA)", "little-endian");
        expect(file[6], EV_CURRENT, "version (EI_VERSION)", "1");
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        expect(Short.toUnsignedInt(b.getShort(16)), ET_EXEC, "type (e_type)", "ET_EXEC");
        expect(Short.toUnsignedInt(b.getShort(18)), EM_X86_64, "machine (e_machine)", "EM_X86_64");
        long entry = b.getLong(24);
        long phoff = b.getLong(32);
        int phentsize = Short.toUnsignedInt(b.getShort(54));
        int phnum = Short.toUnsignedInt(b.getShort(56));
        if (phentsize != PHDR_SIZE) {
            throw new InvalidImageException("ELF program header size (e_phentsize) is " + phentsize + ", expected " + PHDR_SIZE);
        }
        if (phnum == 0) {
            throw new InvalidImageException("ELF image has no program headers");
        }
        // phnum * 56 < 4 MiB, so the sum cannot overflow once phoff is known to be inside the file.
        if (phoff < 0 || phoff > file.length || phoff + (long) phnum * PHDR_SIZE > file.length) {
            throw new InvalidImageException(String.format(
                    "ELF program headers (%d at offset 0x%x) extend past the end of the %d-byte file", phnum, phoff, file.length));
        }
        List<ElfSegment> segments = new ArrayList<>(phnum);
        for (int i = 0; i < phnum; i++) {
            segments.add(readSegment(b, i, (int) phoff + i * PHDR_SIZE, file.length));
        }
        return new ElfImage(file, entry, List.copyOf(segments));
    }

    private static ElfSegment readSegment(ByteBuffer b, int index, int at, int fileLength) {
        ElfSegment s = new ElfSegment(b.getInt(at), b.getInt(at + 4), b.getLong(at + 8), b.getLong(at + 16),
                b.getLong(at + 24), b.getLong(at + 32), b.getLong(at + 40), b.getLong(at + 48));
        if (s.type() != ElfSegment.PT_LOAD && s.type() != ElfSegment.PT_NOTE) {
            return s; // not used: nothing about it needs to be sane
        }
        String what = String.format("ELF program header %d (%s)", index, s.type() == ElfSegment.PT_LOAD ? "PT_LOAD" : "PT_NOTE");
        if (s.offset() < 0 || s.fileSize() < 0 || s.offset() > fileLength || s.fileSize() > fileLength - s.offset()) {
            throw new InvalidImageException(String.format("%s: file range 0x%x + 0x%x extends past the end of the %d-byte file",
                    what, s.offset(), s.fileSize(), fileLength));
        }
        if (s.type() == ElfSegment.PT_LOAD) {
            if (Long.compareUnsigned(s.fileSize(), s.memSize()) > 0) {
                throw new InvalidImageException(String.format("%s: p_filesz 0x%x is larger than p_memsz 0x%x", what, s.fileSize(), s.memSize()));
            }
            if (s.paddr() < 0 || s.memSize() < 0 || s.paddr() + s.memSize() < 0) {
                throw new InvalidImageException(String.format("%s: physical range 0x%x + 0x%x is beyond any guest address",
                        what, s.paddr(), s.memSize()));
            }
        }
        return s;
    }

    private static void expect(int actual, int expected, String field, String name) {
        if (actual != expected) {
            throw new InvalidImageException("unsupported ELF " + field + " " + actual + ", expected " + name + " (" + expected + ")");
        }
    }

    /** e_entry as written in the file. */
    public long entry() {
        return entry;
    }

    /** Every program header, in file order. */
    public List<ElfSegment> segments() {
        return segments;
    }

    /** The PT_LOAD segments with a non-zero memory size, in file order. */
    public List<ElfSegment> loadSegments() {
        return segments.stream().filter(s -> s.type() == ElfSegment.PT_LOAD && s.memSize() > 0).toList();
    }

    /** The whole file, which the segments' offsets index (not copied: callers only read it). */
    byte[] file() {
        return file;
    }

    /** Every note of every PT_NOTE segment, in file order. */
    public List<ElfNote> notes() {
        List<ElfNote> notes = new ArrayList<>();
        for (ElfSegment s : segments) {
            if (s.type() == ElfSegment.PT_NOTE) {
                readNotes(s, notes);
            }
        }
        return notes;
    }

    /** The first note of {@code owner} with {@code type}, if any. */
    public Optional<ElfNote> findNote(String owner, int type) {
        return notes().stream().filter(n -> n.owner().equals(owner) && n.type() == type).findFirst();
    }

    private void readNotes(ElfSegment s, List<ElfNote> out) {
        // Notes are 4-byte aligned except in 8-byte aligned segments (gABI); Linux's are 4.
        int align = s.align() == 8 ? 8 : 4;
        ByteBuffer b = ByteBuffer.wrap(file, (int) s.offset(), (int) s.fileSize()).slice().order(ByteOrder.LITTLE_ENDIAN);
        while (b.remaining() >= 12) {
            if (out.size() >= MAX_NOTES) {
                throw new InvalidImageException("ELF note segment at offset 0x" + Long.toHexString(s.offset()) + " holds more than " + MAX_NOTES + " notes");
            }
            long namesz = Integer.toUnsignedLong(b.getInt());
            long descsz = Integer.toUnsignedLong(b.getInt());
            int type = b.getInt();
            long nameSpan = alignUp(namesz, align);
            long descSpan = alignUp(descsz, align);
            if (nameSpan + descsz > b.remaining()) {
                throw new InvalidImageException(String.format("ELF note at offset 0x%x (name %d bytes, descriptor %d bytes) extends past its PT_NOTE segment",
                        s.offset() + b.position() - 12, namesz, descsz));
            }
            byte[] name = new byte[(int) namesz];
            b.get(name);
            b.position(b.position() + (int) (nameSpan - namesz));
            byte[] desc = new byte[(int) descsz];
            b.get(desc);
            b.position((int) Math.min(b.limit(), b.position() + (descSpan - descsz)));
            out.add(new ElfNote(ownerName(name), type, desc));
        }
    }

    private static String ownerName(byte[] name) {
        int length = 0;
        while (length < name.length && name[length] != 0) {
            length++;
        }
        return new String(name, 0, length, StandardCharsets.US_ASCII);
    }

    private static long alignUp(long value, int align) {
        return (value + align - 1) & -align;
    }
}
