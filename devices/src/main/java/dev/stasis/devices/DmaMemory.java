package dev.stasis.devices;

import com.sun.jna.Pointer;
import java.io.IOException;

/**
 * Guest memory as a device reaches it (virtqueues, DMA buffers): bounds-checked copies in and out by
 * guest-physical address. Every write is recorded by the platform, so migration and live snapshots see the pages
 * a device writes as well as those the guest writes (KVM's dirty log shows only the guest's). An address outside
 * guest RAM is an {@link IndexOutOfBoundsException} naming it; a device turns that into an error for the guest.
 */
public interface DmaMemory {
    void read(long gpa, byte[] into, int offset, int length);

    void write(long gpa, byte[] from, int offset, int length);

    /** True when {@code [gpa, gpa + length)} is guest RAM, in one piece a device may address. */
    boolean contains(long gpa, long length);

    /**
     * Hands {@code io} the host address of {@code [gpa, gpa + length)} for a system call to read from
     * ({@code guestWrites} false: a disk write) or fill in place (true: a disk read), with no copy in between; the
     * pages are recorded as written after {@code io} returns. Returns what {@code io} returns.
     */
    long transfer(long gpa, int length, boolean guestWrites, InPlace io) throws IOException;

    /** A system call on guest memory in place: {@code pread} into it, {@code pwrite} from it. */
    @FunctionalInterface
    interface InPlace {
        long apply(Pointer host, int length) throws IOException;
    }
}
