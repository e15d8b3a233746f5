package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import java.util.List;

/**
 * Loads an ELF64 x86-64 executable by its PT_LOAD segments at their physical addresses ({@code p_paddr}) and
 * enters it like a {@link FlatLoader} guest: 64-bit long mode at {@code e_entry} on every vCPU, the identity
 * page tables, RSI = {@link ParameterBlock#ADDRESS}, RDI = vCPU index, stacks from {@link FlatLoader#STACK_TOP}.
 *
 * <p>The first MiB belongs to the loaders (GDT, page tables, parameter block, stacks, boot structures), so every
 * segment must lie at or above {@link #MIN_LOAD_ADDRESS}, inside one RAM range; {@code e_entry} must fall in a
 * loaded segment's file bytes. Nothing is written to guest memory until the whole image is validated.
 */
public final class ElfLoader {
    private ElfLoader() {}

    public static final long MIN_LOAD_ADDRESS = 0x100000;

    public static EntryPoint load(GuestMemory memory, byte[] file) {
        ElfImage elf = ElfImage.parse(file);
        List<ElfSegment> segments = checkSegments(memory, elf);
        if (segments.stream().noneMatch(s -> elf.entry() >= s.paddr() && elf.entry() - s.paddr() < s.fileSize())) {
            throw new InvalidImageException(String.format("ELF entry point e_entry 0x%x is not inside the file bytes of any PT_LOAD segment", elf.entry()));
        }
        BootGdt.write(memory);
        long cr3 = IdentityPageTables.write(memory);
        copySegments(memory, elf, segments);
        return new EntryPoint(CpuMode.LONG_64, elf.entry(), cr3, ParameterBlock.ADDRESS, 0,
                FlatLoader.STACK_TOP, FlatLoader.STACK_STRIDE, true);
    }

    /**
     * The PT_LOAD segments of {@code elf}, each checked to lie above {@link #MIN_LOAD_ADDRESS} in one RAM range
     * of {@code memory}. Throws if there are none.
     */
    static List<ElfSegment> checkSegments(GuestMemory memory, ElfImage elf) {
        List<ElfSegment> segments = elf.loadSegments();
        if (segments.isEmpty()) {
            throw new InvalidImageException("ELF image has no PT_LOAD segment with a non-zero size");
        }
        for (ElfSegment s : segments) {
            MemoryRange where = new MemoryRange(s.paddr(), s.memSize());
            if (s.paddr() < MIN_LOAD_ADDRESS) {
                throw new InvalidImageException(String.format("ELF PT_LOAD segment %s lies below 0x%x, in the loader's low memory", where, MIN_LOAD_ADDRESS));
            }
            if (memory.layout().find(s.paddr(), s.memSize()) == null) {
                throw new InvalidImageException(String.format("ELF PT_LOAD segment %s is not inside guest RAM %s", where, memory.layout().ranges()));
            }
        }
        return segments;
    }

    /** Copies checked segments to their physical addresses and zeroes the part past their file bytes (bss). */
    static void copySegments(GuestMemory memory, ElfImage elf, List<ElfSegment> segments) {
        for (ElfSegment s : segments) {
            memory.write(s.paddr(), elf.file(), (int) s.offset(), (int) s.fileSize());
            memory.zero(s.paddr() + s.fileSize(), s.memSize() - s.fileSize());
        }
    }

    /** The end of the highest segment, exclusive. */
    static long end(List<ElfSegment> segments) {
        return segments.stream().mapToLong(ElfSegment::paddrEnd).max().orElseThrow();
    }
}
