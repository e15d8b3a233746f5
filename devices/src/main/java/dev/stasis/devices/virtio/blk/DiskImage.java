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
import java.nio.ByteBuffer;

/**
 * A raw disk image file, opened for a guest: positional reads and writes straight between the file and guest memory,
 * flush (fdatasync), discard and zeroing (fallocate). A writable image is locked exclusively (flock), a read-only one
 * shared, so two VMMs never write one image (QEMU's image locking does the same); the lock goes with {@link #close}.
 */
public final class DiskImage implements AutoCloseable {
    public static final int SECTOR = 512;
    private static final int SCAN_STEP = 1 << 20;

    private final Path path;
    private final boolean readOnly;
    private final int fd;
    private final long size;
    private volatile boolean closed;
    private volatile boolean privateCopy;
    /** The fingerprint's terms; its lock also orders writes with the scan. */
    private final ContentHash hash;
    /** The scan's position: it has read every block below (guarded by hash). */
    private long scanned;
    private Exception scanFailure;
    /** A block a write covered in part, read back (guarded by hash). */
    private final ByteBuffer delta = ByteBuffer.allocateDirect(ContentHash.BLOCK);
    private final Pointer deltaPointer = Native.getDirectBufferPointer(delta);

    private DiskImage(Path path, boolean readOnly, int fd, long size) {
        this.path = path;
        this.readOnly = readOnly;
        this.fd = fd;
        this.size = size;
        this.hash = new ContentHash(size);
        Thread t = new Thread(this::scan, "disk fingerprint " + path.getFileName());
        t.setDaemon(true);
        t.start();
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

    /**
     * Opens {@code path}, a file made for this VM alone (a snapshot's disk content written out for it), and removes its
     * name (and its directory's, when that is empty): the VM holds the only reference, nothing else can open it, and it
     * is gone when the VM ends.
     */
    public static DiskImage openPrivate(Path path, boolean readOnly) throws IOException {
        DiskImage d = open(path, readOnly);
        try {
            Files.delete(path);
            Path parent = path.toAbsolutePath().getParent();
            try (var left = Files.list(parent)) {
                if (left.findAny().isEmpty()) {
                    Files.delete(parent);
                }
            }
        } catch (IOException e) {
            d.close();
            throw e;
        }
        d.privateCopy = true;
        return d;
    }

    /** True for an image {@link #openPrivate} made: it has no name a later restore could open. */
    public boolean privateCopy() { return privateCopy; }

    /** False when {@code [offset, offset + length)} is a hole: it reads as zeros and need not be read. */
    public boolean hasData(long offset, long length) {
        long data = LibC.lseek(fd, offset, LibC.SEEK_DATA);
        return data < 0 ? Native.getLastError() != Errno.ENXIO : data < offset + length;
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
        changing(offset, length, from, () -> pwrite(offset, from, length));
    }

    private void pwrite(long offset, Pointer from, int length) throws IOException {
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
        changing(offset, length, null, () -> deallocate(offset, length));
    }

    private void deallocate(long offset, long length) throws IOException {
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
        changing(offset, length, null, () -> zeroRange(offset, length));
    }

    private void zeroRange(long offset, long length) throws IOException {
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
            pwrite(offset + at, zeros, (int) Math.min(zeros.size(), length - at));
        }
    }

    /**
     * The fingerprint of the content now ({@link ContentHash}: it changes when any byte does, not when only the
     * allocation does). Kept up to date by every write through this object, so it costs nothing to take, once the
     * scan of what the image held when opened is done (a background thread started at open; this waits for it).
     */
    public byte[] fingerprint() throws IOException {
        synchronized (hash) {
            boolean interrupted = false;
            while (scanned < size && scanFailure == null) {
                try {
                    hash.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
            if (scanFailure != null) {
                throw new IOException("the content of disk " + path + " could not be read for its fingerprint: " + scanFailure.getMessage(), scanFailure);
            }
            return hash.value(size);
        }
    }

    /** Adds the terms of every data extent of the image, in order, 1 MiB at a time under the hash's lock. */
    private void scan() {
        ByteBuffer buf = ByteBuffer.allocateDirect(SCAN_STEP);
        Pointer p = Native.getDirectBufferPointer(buf);
        try {
            while (true) {
                synchronized (hash) {
                    if (closed || scanned >= size) {
                        break;
                    }
                    long data = LibC.lseek(fd, scanned, LibC.SEEK_DATA);
                    if (data < 0) {
                        scanned = size; // ENXIO: a hole to the end
                        break;
                    }
                    long start = Math.max(scanned, data / ContentHash.BLOCK * ContentHash.BLOCK);
                    int n = (int) Math.min(SCAN_STEP, size - start);
                    read(start, p, n);
                    hash.set(buf.clear().limit(n), start / ContentHash.BLOCK);
                    scanned = start + n;
                }
            }
        } catch (IOException | RuntimeException e) {
            synchronized (hash) {
                scanFailure = e;
            }
        } finally {
            synchronized (hash) {
                hash.notifyAll();
            }
        }
    }

    /**
     * Runs {@code change} on {@code [offset, offset + length)}, then gives the fingerprint the new content of the blocks
     * it touched: from {@code data} (the bytes written, in place) for whole blocks, read back from the image for the
     * partial blocks at either end, or zeros when {@code data} is null and the change zeroed the range. Under the
     * fingerprint's lock, so the scan never reads a block between a write and its terms.
     */
    private void changing(long offset, long length, Pointer data, Change change) throws IOException {
        synchronized (hash) {
            change.run();
            long end = Math.min(size, offset + length);
            long firstWhole = (offset + ContentHash.BLOCK - 1) / ContentHash.BLOCK;
            long endWhole = end / ContentHash.BLOCK;
            if (firstWhole < endWhole) {
                long bytes = (endWhole - firstWhole) * ContentHash.BLOCK;
                if (data == null) {
                    hash.clear(firstWhole, endWhole - firstWhole);
                } else {
                    hash.set(data.getByteBuffer(firstWhole * ContentHash.BLOCK - offset, bytes), firstWhole);
                }
            }
            long headBlock = offset / ContentHash.BLOCK;
            if (offset % ContentHash.BLOCK != 0 || endWhole <= headBlock) {
                reread(headBlock);
            }
            long tailBlock = (end - 1) / ContentHash.BLOCK;
            if (tailBlock != headBlock && end % ContentHash.BLOCK != 0) {
                reread(tailBlock);
            }
        }
    }

    /** Reads block {@code n} back and gives the fingerprint what it holds (a block a write covered only in part). */
    private void reread(long n) throws IOException {
        long at = n * ContentHash.BLOCK;
        int len = (int) Math.min(ContentHash.BLOCK, size - at);
        read(at, deltaPointer, len);
        hash.set(delta.clear().limit(len), n);
    }

    private interface Change {
        void run() throws IOException;
    }

    @Override
    public void close() {
        synchronized (hash) { // not while the scan or a write uses the descriptor
            if (!closed) {
                closed = true;
                LibC.close(fd);
                hash.notifyAll();
            }
        }
    }
}
