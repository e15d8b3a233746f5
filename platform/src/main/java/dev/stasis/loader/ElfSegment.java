package dev.stasis.loader;

/**
 * One ELF64 program header. All values are validated to be non-negative, and {@code [offset, offset + fileSize)}
 * to lie inside the file, by {@link ElfImage#parse}.
 */
public record ElfSegment(int type, int flags, long offset, long vaddr, long paddr, long fileSize, long memSize, long align) {
    public static final int PT_LOAD = 1;
    public static final int PT_NOTE = 4;

    /** The end of the segment in guest-physical memory (exclusive). */
    public long paddrEnd() {
        return paddr + memSize;
    }
}
