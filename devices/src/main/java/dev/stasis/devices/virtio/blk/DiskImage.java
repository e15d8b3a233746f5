package dev.stasis.devices.virtio.blk;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;
import dev.stasis.os.UninterruptibleJoin;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * A raw disk image file, opened for a guest: positional reads and writes straight between the file and guest memory,
 * flush (fdatasync), discard and zeroing (fallocate). A writable image is locked exclusively (flock), a read-only one
 * shared, so two VMMs never write one image (QEMU's image locking does the same); the lock goes with {@link #close}.
 */
public final class DiskImage implements AutoCloseable {
    public static final int SECTOR = 512;
    /** The name of {@link #fingerprint}'s algorithm, saved beside it: a later one gets another name. */
    public static final String FINGERPRINT_METHOD = "xxh64-4k-sum-1";
    private static final int SCAN_STEP = 1 << 20;
    private static final int BOUNCE = 1 << 20;

    private final Path path;
    private final boolean readOnly;
    private final int fd;
    private final long size;
    private volatile boolean closed;
    /** Where the blocks come from that this VM has not written (a copy-on-write disk), or null. */
    private final DiskBase base;
    /** With a base: the 4 KiB blocks the file holds, bit n of word n/64 (guarded by hash). */
    private final long[] present;
    /** The fingerprint's terms; its lock also orders writes with the scan. */
    private final ContentHash hash;
    /** The scan's position: it has read every block below (guarded by hash). */
    private long scanned;
    private Throwable scanFailure;
    /** Where a write's bytes go on their way to the file, {@link #BOUNCE} at a time (guarded by hash). */
    private final ByteBuffer bounce = ByteBuffer.allocateDirect(BOUNCE);
    private final Pointer bouncePointer = Native.getDirectBufferPointer(bounce);
    /** A block a write covered in part, read back (guarded by hash). */
    private final ByteBuffer delta = ByteBuffer.allocateDirect(ContentHash.BLOCK);
    private final Pointer deltaPointer = Native.getDirectBufferPointer(delta);

    private DiskImage(Path path, boolean readOnly, int fd, long size, DiskBase base) {
        this.path = path;
        this.readOnly = readOnly;
        this.fd = fd;
        this.size = size;
        this.base = base;
        this.present = base == null ? null : new long[(int) ((size / ContentHash.BLOCK + 64) / 64)];
        this.hash = new ContentHash(size);
        byte[] known = base == null ? null : base.fingerprint();
        if (known != null && known.length == 24 && ByteBuffer.wrap(known).order(ByteOrder.LITTLE_ENDIAN).getLong(0) == size) {
            // A copy-on-write disk over content whose fingerprint was saved: no scan; each block's own hash is taken from
            // the base when a change first touches it.
            hash.startFrom(known, (size + ContentHash.BLOCK - 1) / ContentHash.BLOCK);
            scanned = size;
            return;
        }
        Thread t = new Thread(this::scan, "disk fingerprint " + path.getFileName());
        t.setDaemon(true);
        t.start();
    }

    /** Opens {@code path}; refuses, saying why, a directory, a missing file, an image another process holds. */
    public static DiskImage open(Path path, boolean readOnly) throws IOException {
        return open(path, readOnly, null);
    }

    private static DiskImage open(Path path, boolean readOnly, DiskBase base) throws IOException {
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
            return new DiskImage(path, readOnly, fd, size, base);
        } catch (IOException | RuntimeException e) {
            LibC.close(fd);
            throw e;
        }
    }

    /**
     * Opens {@code path}, an empty file of {@code base}'s size made for this VM alone, as a copy-on-write disk over
     * {@code base}: what the guest writes goes to the file, 4 KiB blocks at a time (a block written in part is copied
     * up first), and the rest is read from {@code base}. The file's name is removed at once: the VM holds the only
     * reference, nothing else can open it, it is gone when the VM ends, and {@code base} is never written.
     */
    public static DiskImage openOverlay(Path path, boolean readOnly, DiskBase base) throws IOException {
        if (Files.size(path) != base.size()) {
            throw new IOException("overlay " + path + " is " + Files.size(path) + " bytes, its base " + base.size());
        }
        DiskImage d = open(path, readOnly, base);
        try {
            Files.delete(path);
        } catch (IOException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /** The 4 KiB blocks changed since tracking began or the last {@link #takeChanged}, while tracked (guarded by hash). */
    private long[] changed;

    /** The number of 4 KiB blocks (the last one may be short). */
    public long blocks() {
        return (size + ContentHash.BLOCK - 1) / ContentHash.BLOCK;
    }

    /**
     * Starts (or stops) recording which 4 KiB blocks change, for a migration that copies the disk's blocks while the
     * guest writes them (as KVM's dirty log does for RAM).
     */
    public void trackChanges(boolean on) {
        synchronized (hash) {
            changed = on ? new long[(int) ((blocks() + 63) / 64)] : null;
        }
    }

    /** The blocks changed since the last call (or since tracking began), bit n of word n/64; tracking goes on. */
    public long[] takeChanged() {
        synchronized (hash) {
            if (changed == null) {
                throw new IllegalStateException("disk " + path + ": changes are not tracked");
            }
            long[] out = changed;
            changed = new long[out.length];
            return out;
        }
    }

    /**
     * Lets go of the image's lock, the descriptor staying open: a migration's source, paused with its I/O held and the
     * image flushed, hands the image over to a destination on shared storage. Nothing may be written until
     * {@link #retakeLock} (the guest never resumes here unless the hand-over fails).
     */
    public void releaseLock() {
        LibC.flock(fd, LibC.LOCK_UN);
    }

    /**
     * Takes the lock again after a hand-over that did not happen; the destination may still be letting go of it, so
     * this tries for up to {@code millis}. Throws, saying who holds it, when it stays taken.
     */
    public void retakeLock(long millis) throws IOException {
        long until = System.nanoTime() + millis * 1_000_000L;
        while (LibC.flock(fd, (readOnly ? LibC.LOCK_SH : LibC.LOCK_EX) | LibC.LOCK_NB) != 0) {
            if (System.nanoTime() > until) {
                throw new IOException("disk " + path + " is still locked by another process " + millis + " ms after the hand-over failed");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while taking the lock of disk " + path + " back", e);
            }
        }
    }

    /**
     * The content hash ({@link ContentHash}'s per-block term: XXH64 seeded by the block number, 0 for a zero block) of
     * each 4 KiB block numbered in {@code blocks}, read from the file now: two ends of a migration compare a sample of
     * blocks to see they open the same file with the same content, without reading all of it.
     */
    public long[] blockHashes(long[] blocks) throws IOException {
        long[] out = new long[blocks.length];
        ByteBuffer block = ByteBuffer.allocateDirect(ContentHash.BLOCK);
        Pointer p = Native.getDirectBufferPointer(block);
        for (int i = 0; i < blocks.length; i++) {
            if (blocks[i] < 0 || blocks[i] >= blocks()) {
                throw new IllegalArgumentException("block " + blocks[i] + " is not a block of disk " + path + " (" + size + " bytes)");
            }
            long at = blocks[i] * ContentHash.BLOCK;
            int n = (int) Math.min(ContentHash.BLOCK, size - at);
            read(at, p, n);
            out[i] = ContentHash.term(block.clear().limit(n), blocks[i]);
        }
        return out;
    }

    /** True for an image {@link #openOverlay} made: it has no name a later restore could open. */
    public boolean privateCopy() { return base != null; }

    /** False when {@code [offset, offset + length)} is a hole: it reads as zeros and need not be read. */
    public boolean hasData(long offset, long length) {
        if (base != null) {
            return true; // the base's zeros are not known here: read it
        }
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
        inside(offset, length);
        if (base == null) {
            positional(offset, into, length, false);
            return;
        }
        synchronized (hash) {
            // Runs of blocks the file holds, from the file; the others from the base.
            for (int done = 0; done < length; ) {
                long at = offset + done;
                boolean inFile = present(at / ContentHash.BLOCK);
                int n = Math.min(length - done, (int) (ContentHash.BLOCK - at % ContentHash.BLOCK));
                while (done + n < length && present((at + n) / ContentHash.BLOCK) == inFile) {
                    n = Math.min(length - done, n + ContentHash.BLOCK);
                }
                if (inFile) {
                    positional(at, into.share(done), n, false);
                } else {
                    base.read(at, into.getByteBuffer(done, n));
                }
                done += n;
            }
        }
    }

    private boolean present(long block) {
        return (present[(int) (block >>> 6)] & 1L << block) != 0;
    }

    /**
     * Before a change of {@code [offset, offset + length)} to a copy-on-write disk: the blocks it covers only in part,
     * copied up from the base (the change keeps the rest of them); after it, every block it touched is the file's.
     */
    private void copyUp(long offset, long length) throws IOException {
        long first = offset / ContentHash.BLOCK;
        long last = (Math.min(size, offset + length) - 1) / ContentHash.BLOCK;
        for (long n : new long[] {first, last}) {
            long at = n * ContentHash.BLOCK;
            int len = (int) Math.min(ContentHash.BLOCK, size - at);
            boolean whole = offset <= at && offset + length >= at + len;
            if (!whole && !present(n)) {
                base.read(at, delta.clear().limit(len));
                positional(at, deltaPointer, len, true);
                present[(int) (n >>> 6)] |= 1L << n;
            }
        }
    }

    private void ownBlocks(long offset, long length) {
        for (long n = offset / ContentHash.BLOCK; n * ContentHash.BLOCK < Math.min(size, offset + length); n++) {
            present[(int) (n >>> 6)] |= 1L << n;
        }
    }

    /** Runs {@code change} on a range; on a copy-on-write disk, with its partial blocks copied up first and its blocks the file's after. */
    private void onOwnBlocks(long offset, long length, Change change) throws IOException {
        if (base != null) {
            copyUp(offset, length);
        }
        change.run();
        if (base != null) {
            ownBlocks(offset, length);
        }
    }

    /** pread or pwrite until all {@code length} bytes are done, through EINTR. */
    private void positional(long offset, Pointer buf, int length, boolean write) throws IOException {
        int done = 0;
        while (done < length) {
            long n = write ? LibC.pwrite(fd, buf.share(done), length - done, offset + done) : LibC.pread(fd, buf.share(done), length - done, offset + done);
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR) {
                    continue;
                }
                throw new IOException((write ? "write" : "read") + " of disk " + path + " at " + (offset + done) + " failed: " + LibC.strerror(errno));
            }
            if (n == 0) {
                throw new IOException("disk " + path + " ends at " + (offset + done) + ", before the " + size + " bytes it had when opened (did it shrink?)");
            }
            done += (int) n;
        }
    }

    /**
     * Writes {@code length} bytes from {@code from} at {@code offset}, through a buffer of this image's own: the bytes
     * written are the bytes the fingerprint takes, even if the guest changes its buffer meanwhile.
     */
    public void write(long offset, Pointer from, int length) throws IOException {
        inside(offset, length);
        for (int done = 0; done < length; ) {
            int n = Math.min(BOUNCE, length - done);
            long at = offset + done;
            Pointer piece = from.share(done);
            synchronized (hash) {
                // Copied in native code: the guest's buffer may be a page a post-copy or a lazy restore has not brought
                // yet, and a Java thread faulting outside native code holds up the JVM's safepoints (GuestMemory.copy).
                LibC.memcpy(bouncePointer, piece, n);
                bounce.clear().limit(n);
                changing(at, n, bounce, () -> onOwnBlocks(at, n, () -> pwrite(at, bouncePointer, n)));
            }
            done += n;
        }
    }

    /** A request that leaves the image is the caller's bug (the device checks sectors first): refused, never done. */
    private void inside(long offset, long length) throws IOException {
        if (offset < 0 || length < 0 || offset > size - length) {
            throw new IOException(String.format("disk %s: [%d, +%d) is outside its %d bytes", path, offset, length, size));
        }
    }

    private void pwrite(long offset, Pointer from, int length) throws IOException {
        positional(offset, from, length, true);
    }

    /** Makes every write so far durable (fdatasync). */
    public void flush() throws IOException {
        if (!readOnly && LibC.fdatasync(fd) != 0) {
            throw new IOException("flush of disk " + path + " failed: " + LibC.strerror(Native.getLastError()));
        }
    }

    /** Frees {@code [offset, offset + length)}: it reads as zeros after (a hole). */
    public void punchHole(long offset, long length) throws IOException {
        inside(offset, length);
        changing(offset, length, null, () -> onOwnBlocks(offset, length, () -> deallocate(offset, length)));
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
        inside(offset, length);
        changing(offset, length, null, () -> onOwnBlocks(offset, length, () -> zeroRange(offset, length)));
    }

    private void zeroRange(long offset, long length) throws IOException {
        if (LibC.fallocate(fd, LibC.FALLOC_FL_ZERO_RANGE | LibC.FALLOC_FL_KEEP_SIZE, offset, length) != 0) {
            int errno = Native.getLastError();
            if (errno != Errno.EOPNOTSUPP) {
                throw new IOException("write-zeroes on disk " + path + " failed: " + LibC.strerror(errno));
            }
            deallocate(offset, length); // tmpfs has no ZERO_RANGE: a hole reads as zeros too
        }
    }

    /** Zeros written where the range holds data (holes already read as zeros): a file system with no hole punching. */
    private void writeZeros(long offset, long length) throws IOException {
        Memory zeros = new Memory(1 << 16);
        zeros.clear();
        for (long at = 0; at < length; at += zeros.size()) {
            int n = (int) Math.min(zeros.size(), length - at);
            if (hasData(offset + at, n)) {
                pwrite(offset + at, zeros, n);
            }
        }
    }

    /**
     * The fingerprint of the content now ({@link ContentHash}: it changes when any byte does, not when only the
     * allocation does). Kept up to date by every write through this object, so it costs nothing to take, once the
     * scan of what the image held when opened is done (a background thread started at open; this waits for it).
     */
    public byte[] fingerprint() throws IOException {
        synchronized (hash) {
            UninterruptibleJoin.until(hash, () -> scanned >= size || scanFailure != null || closed);
            if (scanFailure != null) {
                throw new IOException("the content of disk " + path + " could not be read for its fingerprint: " + scanFailure.getMessage(), scanFailure);
            }
            if (closed) {
                throw new IOException("disk " + path + " is closed");
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
                    long data = base != null ? scanned : LibC.lseek(fd, scanned, LibC.SEEK_DATA); // a base has no holes to skip
                    if (data < 0 || data >= size) {
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
        } catch (IOException | RuntimeException | Error e) {
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
     * it touched: from {@code data} (the bytes written) for whole blocks, read back from the image for the partial
     * blocks at either end, or zeros when {@code data} is null and the change zeroed the range. A change that fails
     * part-way has its whole range read back instead (if that fails too, the fingerprint is lost, and says so). Under
     * the fingerprint's lock, so the scan never reads a block between a write and its terms.
     */
    private void changing(long offset, long length, ByteBuffer data, Change change) throws IOException {
        synchronized (hash) {
            if (changed != null) { // before the change: one that fails part-way may still have written some of it
                for (long n = offset / ContentHash.BLOCK; n * ContentHash.BLOCK < Math.min(size, offset + length); n++) {
                    changed[(int) (n >>> 6)] |= 1L << n;
                }
            }
            adoptUnknown(offset, length);
            try {
                change.run();
            } catch (IOException | RuntimeException e) {
                rereadRange(offset, length, e);
                throw e;
            }
            long end = Math.min(size, offset + length);
            long firstWhole = (offset + ContentHash.BLOCK - 1) / ContentHash.BLOCK;
            long endWhole = end / ContentHash.BLOCK;
            if (firstWhole < endWhole) {
                long bytes = (endWhole - firstWhole) * ContentHash.BLOCK;
                if (data == null) {
                    hash.clear(firstWhole, endWhole - firstWhole);
                } else {
                    int from = (int) (firstWhole * ContentHash.BLOCK - offset);
                    hash.set(data.duplicate().position(from).limit(from + (int) bytes), firstWhole);
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

    /** Before a change: the blocks it touches whose hash the saved fingerprint counted but nobody has read, read from the base. */
    private void adoptUnknown(long offset, long length) throws IOException {
        if (!hash.startedFromSaved()) {
            return; // every block's hash is known: nothing to look at on the write path
        }
        for (long n = offset / ContentHash.BLOCK; n * ContentHash.BLOCK < Math.min(size, offset + length); n++) {
            if (hash.unknown(n)) {
                long at = n * ContentHash.BLOCK;
                int len = (int) Math.min(ContentHash.BLOCK, size - at);
                read(at, deltaPointer, len); // not changed yet: the base's bytes, or the file's after a copy-up
                hash.adopt(n, delta.clear().limit(len));
            }
        }
    }

    /** After a change failed part-way: every block of the range as the image now holds it, or the fingerprint is lost. */
    private void rereadRange(long offset, long length, Exception cause) {
        try {
            for (long n = offset / ContentHash.BLOCK; n * ContentHash.BLOCK < Math.min(size, offset + length); n++) {
                reread(n);
            }
        } catch (IOException | RuntimeException e) {
            if (scanFailure == null) {
                scanFailure = new IOException("a failed change (" + cause.getMessage() + ") could not be read back: " + e.getMessage(), e);
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
                if (base != null) {
                    base.close();
                }
                hash.notifyAll();
            }
        }
    }
}
