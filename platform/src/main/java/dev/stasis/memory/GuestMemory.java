package dev.stasis.memory;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.stasis.devices.DmaMemory;
import com.sun.jna.Native;
import dev.stasis.os.LibC;
import dev.stasis.os.Mapping;
import dev.stasis.os.NativeException;
import java.nio.file.Path;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest RAM: one host mapping per {@link MemoryRange} of a validated {@link MemoryLayout}. All accessors
 * take guest-physical addresses, are little-endian, and throw {@link GuestMemoryAccessException} naming
 * the address when an access falls outside RAM (or straddles two ranges).
 */
public final class GuestMemory implements DmaMemory, AutoCloseable {
    private final MemoryLayout layout;
    private final List<Mapping> mappings = new ArrayList<>();
    private final WrittenPages written;
    private final RamBacking backing;
    /** What fills (or filled) RAM while the guest runs, or null: then every page was in place from the start. */
    private volatile RamFill filling;

    public GuestMemory(MemoryLayout layout) {
        this(layout, RamBacking.ZERO);
    }

    /** RAM for {@code layout} whose pages come from {@code backing} until written. */
    public GuestMemory(MemoryLayout layout, RamBacking backing) {
        this.layout = layout;
        this.backing = backing;
        this.written = new WrittenPages(layout);
        try {
            if (backing instanceof RamBacking.Image image) {
                mapImage(image.file());
            } else {
                for (MemoryRange r : layout.ranges()) {
                    Mapping m = Mapping.anonymous(r.size());
                    mappings.add(m);
                    m.adviseHugePages();
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Each range copy-on-write over its place in the image (ranges back to back), checked to be exactly RAM's size. */
    private void mapImage(Path file) {
        int fd = LibC.open(file.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC);
        if (fd < 0) {
            throw new NativeException("open", Native.getLastError(), "RAM image " + file);
        }
        try {
            long size = LibC.lseek(fd, 0, LibC.SEEK_END);
            if (size != layout.totalSize()) {
                throw new IllegalArgumentException("RAM image " + file + " holds " + size + " bytes, not the guest's " + layout.totalSize());
            }
            long offset = 0;
            for (MemoryRange r : layout.ranges()) {
                mappings.add(Mapping.privateOfFd(fd, r.size(), offset));
                offset += r.size();
            }
        } finally {
            LibC.close(fd);
        }
    }

    public RamBacking backing() {
        return backing;
    }

    public MemoryLayout layout() {
        return layout;
    }

    /**
     * The pages written through this object's writers ({@link #write}, {@link #zero}, the {@code put}s, and
     * {@link DmaMemory#write} for devices) while tracking is on. Writes through {@link #pointer} and
     * {@link #buffer} are not recorded: those are for filling all of RAM (restore, incoming migration) and reading.
     */
    public WrittenPages writtenPages() {
        return written;
    }

    public long size() {
        return layout.totalSize();
    }

    /** The host mapping of range {@code index} of the layout (for KVM memory slots). */
    public Mapping mapping(int index) {
        return mappings.get(index);
    }

    /** From here on RAM fills from {@code ram} while the guest runs; readers of all RAM wait for it to finish. */
    void fillingFrom(RamFill ram) {
        filling = ram;
    }

    /**
     * Waits until every page is in place (a lazy restore done); at once when no lazy restore runs. Throws
     * {@link IllegalStateException} when the lazy restore failed: RAM is not what it should be.
     */
    public void awaitResident() {
        RamFill ram = filling;
        if (ram != null) {
            ram.awaitResident(); // at once when it is done; it stays, for its figures and its failure
        }
    }

    /** The lazy restore that filled or fills RAM, or null when none did. */
    public LazyRam lazyRestore() {
        return filling instanceof LazyRam l ? l : null;
    }

    /** What filled or fills RAM while the guest runs (a lazy restore, a post-copy migration), or null. */
    public RamFill fill() {
        return filling;
    }

    /** The guest-physical address of host address {@code host} in one of the mappings, or -1. */
    long gpaOf(long host) {
        List<MemoryRange> ranges = layout.ranges();
        for (int i = 0; i < ranges.size(); i++) {
            long base = Pointer.nativeValue(mappings.get(i).address());
            if (host >= base && host - base < ranges.get(i).size()) {
                return ranges.get(i).gpa() + (host - base);
            }
        }
        return -1;
    }

    /** A host pointer to {@code [gpa, gpa + length)}, which must lie in one range. */
    public Pointer pointer(long gpa, long length) {
        if (closed) {
            // Not an access to unmapped memory. (A thread that got its pointer just before the close can still race it:
            // memory is closed only once nothing uses it, by whoever owns the machine.)
            throw new IllegalStateException("guest memory is closed: its VM has ended");
        }
        List<MemoryRange> ranges = layout.ranges();
        for (int i = 0; i < ranges.size(); i++) {
            MemoryRange r = ranges.get(i);
            if (r.contains(gpa, length)) {
                return mappings.get(i).address().share(gpa - r.gpa());
            }
        }
        throw new GuestMemoryAccessException(gpa, length);
    }

    /**
     * A zero-copy little-endian view of {@code [gpa, gpa + length)}; length must be under 2 GiB. Waits for a lazy
     * restore to finish first: a Java thread must not fault on a missing page outside native code.
     */
    public ByteBuffer buffer(long gpa, int length) {
        awaitResident();
        return pointer(gpa, length).getByteBuffer(0, length).order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public boolean contains(long gpa, long length) {
        return length >= 0 && layout.find(gpa, length) != null;
    }

    @Override
    public long transfer(long gpa, int length, boolean guestWrites, InPlace io) throws java.io.IOException {
        Pointer host = pointer(gpa, length);
        long r = io.apply(host, length);
        if (guestWrites) {
            written.mark(gpa, length);
        }
        return r;
    }

    public void write(long gpa, byte[] data) {
        write(gpa, data, 0, data.length);
    }

    @Override
    public void write(long gpa, byte[] data, int offset, int length) {
        copy(pointer(gpa, length), data, offset, length, true);
        written.mark(gpa, length);
    }

    @Override
    public void read(long gpa, byte[] into, int offset, int length) {
        copy(pointer(gpa, length), into, offset, length, false);
    }

    public byte[] read(long gpa, int length) {
        byte[] out = new byte[length];
        read(gpa, out, 0, length);
        return out;
    }

    /** Each thread's buffer for {@link #copy}. */
    private static final ThreadLocal<Memory> BOUNCE = ThreadLocal.withInitial(() -> new Memory(64 << 10));

    /**
     * Copies between guest RAM and a Java array by a native memcpy through a buffer of the thread's own. A page of
     * RAM may fault into userfaultfd (missing while a lazy restore or a post-copy fills RAM, write-protected while a
     * live snapshot runs), and the copy must wait for it in native code: JNA copies arrays inside the JVM (JNI's
     * array-region calls), and a thread blocked there holds up every safepoint while the threads that would serve
     * the fault stop at it. The whole process hung so (PostcopyMigrationTest, a read with collections running). The
     * small accessors below copy in native code already.
     */
    private static void copy(Pointer host, byte[] array, int offset, int length, boolean toGuest) {
        Memory bounce = BOUNCE.get();
        for (int done = 0; done < length; ) {
            int n = (int) Math.min(bounce.size(), length - done);
            if (toGuest) {
                bounce.write(0, array, offset + done, n);
                LibC.memcpy(host.share(done), bounce, n);
            } else {
                LibC.memcpy(bounce, host.share(done), n);
                bounce.read(0, array, offset + done, n);
            }
            done += n;
        }
    }

    /**
     * True when no page of {@code [gpa, gpa + length)} was ever written (nor swapped out), so it reads as
     * zero without being read: guest RAM is anonymous private memory. False is always safe (unknown).
     * Snapshots and migration use it to skip untouched RAM instead of faulting every page in.
     */
    public boolean isKnownZero(long gpa, long length) {
        awaitResident(); // a page a lazy restore has not filled yet is unpopulated, not zero
        return backing == RamBacking.ZERO && POPULATED != null && POPULATED.noneIn(Pointer.nativeValue(pointer(gpa, length)), length);
    }

    /**
     * Which pages of {@code [gpa, gpa + length)} (one range) were ever populated, bit i of word i/64 for page i,
     * or null when that says nothing (/proc/self/pagemap cannot be read, or RAM is mapped from an image, whose
     * unpopulated pages read as the image's). A clear bit is a page that reads as zero.
     */
    public long[] populatedPages(long gpa, long length) {
        awaitResident();
        if (backing != RamBacking.ZERO) {
            return null; // an image's pages read as the image's, populated or not
        }
        return POPULATED == null ? null : POPULATED.populated(Pointer.nativeValue(pointer(gpa, length)), length);
    }

    /** One /proc/self/pagemap reader for the process (positional reads are thread-safe). */
    private static final PopulatedPages POPULATED = PopulatedPages.open();

    /** Sets {@code [gpa, gpa + length)} to zero. */
    public void zero(long gpa, long length) {
        pointer(gpa, length).setMemory(0, length, (byte) 0);
        written.mark(gpa, length);
    }

    public byte getByte(long gpa) { return pointer(gpa, 1).getByte(0); }
    public short getShort(long gpa) { return pointer(gpa, 2).getShort(0); }
    public int getInt(long gpa) { return pointer(gpa, 4).getInt(0); }
    public long getLong(long gpa) { return pointer(gpa, 8).getLong(0); }
    public void putByte(long gpa, byte v) { pointer(gpa, 1).setByte(0, v); written.mark(gpa, 1); }
    public void putShort(long gpa, short v) { pointer(gpa, 2).setShort(0, v); written.mark(gpa, 2); }
    public void putInt(long gpa, int v) { pointer(gpa, 4).setInt(0, v); written.mark(gpa, 4); }
    public void putLong(long gpa, long v) { pointer(gpa, 8).setLong(0, v); written.mark(gpa, 8); }

    /** Set before the mappings go, so accessors after a close are refused rather than read unmapped memory. */
    private volatile boolean closed;

    @Override
    public void close() {
        closed = true;
        RamFill ram = filling;
        if (ram != null) {
            ram.close();
        }
        for (Mapping m : mappings) {
            m.close();
        }
        mappings.clear();
    }
}
