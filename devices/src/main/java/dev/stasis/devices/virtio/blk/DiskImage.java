package dev.stasis.devices.virtio.blk;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * A raw disk image file, opened for a guest: positional reads and writes straight between the file and guest memory,
 * flush (fdatasync), discard and zeroing (fallocate). A writable image is locked exclusively (flock), a read-only one
 * shared, so two VMMs never write one image (QEMU's image locking does the same); the lock goes with {@link #close}.
 */
public final class DiskImage implements AutoCloseable {
    public static final int SECTOR = 512;
    private static final int FINGERPRINT_BLOCK = 4096;

    private final Path path;
    private final boolean readOnly;
    private final int fd;
    private final long size;
    private volatile boolean closed;

    private DiskImage(Path path, boolean readOnly, int fd, long size) {
        this.path = path;
        this.readOnly = readOnly;
        this.fd = fd;
        this.size = size;
    }

    /** Opens {@code path}; refuses, saying why, a directory, a missing file, an image another process holds. */
    public static DiskImage open(Path path, boolean readOnly) throws IOException {
        if (Files.isDirectory(path)) {
            throw new IOException("disk " + path + " is a directory, not a disk image");
        }
        if (!Files.exists(path, LinkOption.NOFOLLOW_LINKS) && !Files.exists(path)) {
            throw new IOException("disk " + path + " does not exist");
        }
        if (!Files.isRegularFile(path)) {
            throw new IOException("disk " + path + " is not a regular file (raw image files only)");
        }
        int fd = LibC.open(path.toString(), (readOnly ? LibC.O_RDONLY : LibC.O_RDWR) | LibC.O_CLOEXEC);
        if (fd < 0) {
            throw new IOException("cannot open disk " + path + (readOnly ? " for reading: " : " for reading and writing: ") + LibC.strerror(Native.getLastError()));
        }
        try {
            if (LibC.flock(fd, (readOnly ? LibC.LOCK_SH : LibC.LOCK_EX) | LibC.LOCK_NB) != 0) {
                throw new IOException("disk " + path + " is in use by another VM (it holds the image's lock)" + (readOnly ? " for writing" : ""));
            }
            long size = LibC.lseek(fd, 0, LibC.SEEK_END);
            if (size < 0) {
                throw new IOException("cannot size disk " + path + ": " + LibC.strerror(Native.getLastError()));
            }
            return new DiskImage(path, readOnly, fd, size);
        } catch (IOException | RuntimeException e) {
            LibC.close(fd);
            throw e;
        }
    }

    public Path path() { return path; }
    public boolean readOnly() { return readOnly; }

    /** The size when opened, in bytes; the guest sees {@code size / 512} sectors. */
    public long size() { return size; }

    public long sectors() { return size / SECTOR; }

    /** Reads {@code length} bytes at {@code offset} into {@code into}; an image that ended early (it shrank) is an error. */
    public void read(long offset, Pointer into, int length) throws IOException {
        int done = 0;
        while (done < length) {
            long n = LibC.pread(fd, into.share(done), length - done, offset + done);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR) {
                    continue;
                }
                throw new IOException("read of disk " + path + " at " + (offset + done) + " failed: " + LibC.strerror(errno));
            }
            if (n == 0) {
                throw new IOException("disk " + path + " ends at " + (offset + done) + ", before the " + size + " bytes it had when opened (did it shrink?)");
            }
            done += (int) n;
        }
    }

    public void write(long offset, Pointer from, int length) throws IOException {
        int done = 0;
        while (done < length) {
            long n = LibC.pwrite(fd, from.share(done), length - done, offset + done);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR) {
                    continue;
                }
                throw new IOException("write of disk " + path + " at " + (offset + done) + " failed: " + LibC.strerror(errno));
            }
            done += (int) n;
        }
    }

    /** Makes every write so far durable (fdatasync). */
    public void flush() throws IOException {
        if (!readOnly && LibC.fdatasync(fd) != 0) {
            throw new IOException("flush of disk " + path + " failed: " + LibC.strerror(Native.getLastError()));
        }
    }

    /** Frees {@code [offset, offset + length)}: it reads as zeros after (a hole). */
    public void punchHole(long offset, long length) throws IOException {
        if (LibC.fallocate(fd, LibC.FALLOC_FL_PUNCH_HOLE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) != 0) {
            int errno = Native.getLastError();
            if (errno != Errno.EOPNOTSUPP) {
                throw new IOException("discard on disk " + path + " failed: " + LibC.strerror(errno));
            }
            writeZeros(offset, length);
        }
    }

    /** Makes {@code [offset, offset + length)} read as zeros, keeping it allocated. */
    public void zero(long offset, long length) throws IOException {
        if (LibC.fallocate(fd, LibC.FALLOC_FL_ZERO_RANGE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) != 0) {
            int errno = Native.getLastError();
            if (errno != Errno.EOPNOTSUPP) {
                throw new IOException("write-zeroes on disk " + path + " failed: " + LibC.strerror(errno));
            }
            writeZeros(offset, length);
        }
    }

    private void writeZeros(long offset, long length) throws IOException {
        Memory zeros = new Memory(1 << 16);
        zeros.clear();
        for (long at = 0; at < length; at += zeros.size()) {
            write(offset + at, zeros, (int) Math.min(zeros.size(), length - at));
        }
    }

    /**
     * A fingerprint of the content: SHA-256 over the index and bytes of every 4 KiB block that is not all zeros, so
     * it changes when any byte does, and not when only the allocation does (a hole and a written zero block are alike).
     * Reads only the data extents (SEEK_DATA/SEEK_HOLE).
     */
    public byte[] fingerprint() throws IOException {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        sha.update(java.nio.ByteBuffer.allocate(8).putLong(0, size).array());
        int chunk = 1 << 20;
        Memory buf = new Memory(chunk);
        byte[] block = new byte[FINGERPRINT_BLOCK];
        byte[] index = new byte[8];
        long next = 0; // the first byte not yet looked at, block-aligned
        while (next < size) {
            long data = LibC.lseek(fd, next, LibC.SEEK_DATA);
            if (data < 0) {
                break; // ENXIO: only a hole from here on
            }
            long hole = LibC.lseek(fd, data, LibC.SEEK_HOLE);
            if (hole < 0 || hole > size) {
                hole = size;
            }
            long start = Math.max(next, data / FINGERPRINT_BLOCK * FINGERPRINT_BLOCK);
            long end = Math.min(size, (hole + FINGERPRINT_BLOCK - 1) / FINGERPRINT_BLOCK * FINGERPRINT_BLOCK);
            for (long pos = start; pos < end; pos += chunk) {
                int n = (int) Math.min(chunk, end - pos);
                read(pos, buf, n);
                for (int off = 0; off < n; off += FINGERPRINT_BLOCK) {
                    int len = Math.min(FINGERPRINT_BLOCK, n - off);
                    buf.read(off, block, 0, len);
                    if (!isZero(block, len)) {
                        java.nio.ByteBuffer.wrap(index).putLong(0, (pos + off) / FINGERPRINT_BLOCK);
                        sha.update(index);
                        sha.update(block, 0, len);
                    }
                }
            }
            next = Math.max(end, start + FINGERPRINT_BLOCK);
        }
        return sha.digest();
    }

    private static boolean isZero(byte[] b, int len) {
        for (int i = 0; i < len; i++) {
            if (b[i] != 0) {
                return false;
            }
        }
        return true;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(fd);
        }
    }
}
