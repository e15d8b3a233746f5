package dev.stasis.memory;

/** One contiguous range of guest-physical RAM: {@code [gpa, gpa + size)}. */
public record MemoryRange(long gpa, long size) {
    public long end() {
        return gpa + size;
    }

    public boolean contains(long address, long length) {
        return address >= gpa && length >= 0 && address - gpa <= size - length;
    }

    @Override
    public String toString() {
        return String.format("[0x%x, 0x%x)", gpa, gpa + size);
    }
}
