package dev.stasis.memory;

/** An access to guest-physical memory that is not RAM. */
public final class GuestMemoryAccessException extends IndexOutOfBoundsException {
    public GuestMemoryAccessException(long gpa, long length) {
        super(String.format("guest-physical access [0x%x, 0x%x) is outside guest RAM", gpa, gpa + length));
    }
}
