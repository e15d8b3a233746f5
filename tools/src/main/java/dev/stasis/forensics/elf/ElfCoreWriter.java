package dev.stasis.forensics.elf;

import dev.stasis.forensics.PhysicalMemory;
import dev.stasis.snapshot.container.RamRange;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Writes an ELF64 little-endian core file (ET_CORE): the ELF header, one PT_NOTE segment holding
 * {@code notes}, then one PT_LOAD per RAM range with p_vaddr = p_paddr = the guest-physical address
 * (a core of a whole machine has no single virtual address space; identity-mapped guests read right).
 * Segments start page-aligned; all-zero megabytes are left as holes, so the file is sparse.
 * Written to a temporary file and renamed, so a failed write leaves no half core.
 */
public final class ElfCoreWriter {
    public static final short ET_CORE = 4;
    public static final short EM_X86_64 = 62;
    public static final int PT_LOAD = 1;
    public static final int PT_NOTE = 4;
    private static final int PF_X = 1;
    private static final int PF_W = 2;
    private static final int PF_R = 4;
    private static final int EHDR = 64;
    private static final int PHDR = 56;
    private static final int PAGE = 4096;
    private static final int BLOCK = 1 << 20;

    private ElfCoreWriter() {}

    /** Layout of a written core, for {@code --json} and tests. */
    public record Written(Path path, long fileSize, long noteOffset, long noteSize, List<Segment> loads) {}

    /** A PT_LOAD: where its bytes are in the file and which guest addresses they are. */
    public record Segment(long fileOffset, long gpa, long size) {}

    public static Written write(Path out, short machine, List<ElfNote> notes, PhysicalMemory memory, LongConsumer progress)
            throws IOException {
        List<RamRange> ranges = memory.ranges();
        int phnum = 1 + ranges.size();
        long noteOffset = EHDR + (long) PHDR * phnum;
        long noteSize = notes.stream().mapToLong(ElfNote::encodedSize).sum();
        long offset = align(noteOffset + noteSize);
        List<Segment> loads = new java.util.ArrayList<>();
        for (RamRange r : ranges) {
            loads.add(new Segment(offset, r.gpa(), r.size()));
            offset = align(offset + r.size());
        }
        long fileSize = loads.isEmpty() ? noteOffset + noteSize : loads.get(loads.size() - 1).fileOffset() + ranges.get(ranges.size() - 1).size();

        ByteBuffer head = ByteBuffer.allocate((int) (noteOffset + noteSize)).order(ByteOrder.LITTLE_ENDIAN);
        header(head, machine, phnum);
        phdr(head, PT_NOTE, PF_R, noteOffset, 0, 0, noteSize, noteSize, 4);
        for (Segment s : loads) {
            phdr(head, PT_LOAD, PF_R | PF_W | PF_X, s.fileOffset(), s.gpa(), s.gpa(), s.size(), s.size(), PAGE);
        }
        for (ElfNote n : notes) {
            note(head, n);
        }
        assert head.position() == head.capacity();

        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            writeFully(ch, head.flip(), 0);
            ByteBuffer zero = ByteBuffer.allocateDirect(BLOCK);
            for (Segment s : loads) {
                for (long done = 0; done < s.size(); done += BLOCK) {
                    int n = (int) Math.min(BLOCK, s.size() - done);
                    ByteBuffer data = memory.view(s.gpa() + done, n);
                    if (data.mismatch(zero.slice(0, n)) != -1) {
                        writeFully(ch, data, s.fileOffset() + done);
                    }
                    progress.accept(n);
                }
            }
            if (ch.size() < fileSize) { // trailing zeros: extend the file over the hole
                writeFully(ch, ByteBuffer.allocate(1), fileSize - 1);
            }
            ch.force(false);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new Written(out, fileSize, noteOffset, noteSize, loads);
    }

    private static void header(ByteBuffer b, short machine, int phnum) {
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2 /* ELFCLASS64 */, 1 /* ELFDATA2LSB */, 1 /* EV_CURRENT */, 0 /* ELFOSABI_NONE */});
        b.put(new byte[8]);
        b.putShort(ET_CORE).putShort(machine).putInt(1);
        b.putLong(0).putLong(EHDR).putLong(0); // entry, phoff, shoff
        b.putInt(0).putShort((short) EHDR).putShort((short) PHDR).putShort((short) phnum);
        b.putShort((short) 0).putShort((short) 0).putShort((short) 0); // no sections
    }

    private static void phdr(ByteBuffer b, int type, int flags, long offset, long vaddr, long paddr, long filesz, long memsz, long align) {
        b.putInt(type).putInt(flags).putLong(offset).putLong(vaddr).putLong(paddr).putLong(filesz).putLong(memsz).putLong(align);
    }

    private static void note(ByteBuffer b, ElfNote n) {
        byte[] name = n.name().getBytes(StandardCharsets.US_ASCII);
        b.putInt(name.length + 1).putInt(n.desc().length).putInt(n.type());
        b.put(name).put(new byte[ElfNote.pad4(name.length + 1) - name.length]);
        b.put(n.desc()).put(new byte[ElfNote.pad4(n.desc().length) - n.desc().length]);
    }

    private static long align(long v) {
        return (v + PAGE - 1) & -PAGE;
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long at) throws IOException {
        while (b.hasRemaining()) {
            at += ch.write(b, at);
        }
    }
}
