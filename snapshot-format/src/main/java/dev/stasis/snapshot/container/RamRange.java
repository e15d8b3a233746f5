package dev.stasis.snapshot.container;

/** A range of guest-physical memory: start address and size in bytes, both page aligned. */
public record RamRange(long gpa, long size) {
    public long end() {
        return gpa + size;
    }

    @Override
    public String toString() {
        return Layout.hex(gpa) + ".." + Layout.hex(gpa + size);
    }
}
