package dev.stasis.os;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * An anonymous or fd-backed mapping, released by {@link #close()}. Guest RAM and the vCPU
 * {@code kvm_run} page are mappings.
 */
public final class Mapping implements AutoCloseable {
    private final Pointer address;
    private final long size;
    private volatile boolean closed;

    private Mapping(Pointer address, long size) {
        this.address = address;
        this.size = size;
    }

    /**
     * Anonymous, private, read-write, not reserved against swap: guest RAM is sparse until touched, and
     * {@link #discard} of a private mapping reads back as zeros.
     */
    public static Mapping anonymous(long size) {
        return map(size, LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0, "anonymous");
    }

    /** Maps {@code size} bytes of {@code fd} at {@code offset}, shared, read-write. */
    public static Mapping ofFd(int fd, long size, long offset) {
        return map(size, LibC.MAP_SHARED, fd, offset, "fd " + fd);
    }

    /** Maps {@code size} bytes of {@code fd} at {@code offset}, private (copy-on-write), read-write; {@code fd} may be read-only. */
    public static Mapping privateOfFd(int fd, long size, long offset) {
        return map(size, LibC.MAP_PRIVATE | LibC.MAP_NORESERVE, fd, offset, "fd " + fd);
    }

    private static Mapping map(long size, int flags, int fd, long offset, String what) {
        if (size <= 0) {
            throw new IllegalArgumentException("mapping size must be positive: " + size);
        }
        Pointer p = LibC.mmap(null, size, LibC.PROT_READ | LibC.PROT_WRITE, flags, fd, offset);
        if (Pointer.nativeValue(p) == LibC.MAP_FAILED) {
            throw new NativeException("mmap", Native.getLastError(), what + ", " + size + " bytes");
        }
        return new Mapping(p, size);
    }

    public Pointer address() {
        return address;
    }

    public long size() {
        return size;
    }

    /**
     * Asks for transparent huge pages (MADV_HUGEPAGE), as QEMU does for guest RAM: fewer TLB and EPT misses,
     * and write-protecting RAM for a live snapshot changes one entry per 2 MiB instead of 512 (on this machine
     * 256 MiB of populated RAM took 5-9 ms to protect in 4 KiB pages and 0.03 ms in huge pages). A kernel
     * without THP refuses with EINVAL; that only costs speed, so it is ignored.
     */
    public void adviseHugePages() {
        LibC.madvise(address, size, LibC.MADV_HUGEPAGE);
    }

    /** Gives the range back to the kernel; on an anonymous private mapping it then reads as zeros. */
    public void discard(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IndexOutOfBoundsException("discard " + offset + "+" + length + " of " + size);
        }
        if (LibC.madvise(address.share(offset), length, LibC.MADV_DONTNEED) != 0) {
            throw new NativeException("madvise(MADV_DONTNEED)", Native.getLastError(), "offset " + offset + ", " + length + " bytes");
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.munmap(address, size);
        }
    }
}
