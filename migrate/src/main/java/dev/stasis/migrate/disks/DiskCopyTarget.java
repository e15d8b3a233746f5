package dev.stasis.migrate.disks;

import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.os.LibC;
import dev.stasis.machine.VirtioSlots;
import dev.stasis.snapshot.codec.Decoder;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code --copy-disks}, the destination: makes a new, sparse file for each disk the SETUP announces (at the path
 * {@code migrate receive --disk ID=PATH} gives, else the source's; one that exists is refused, never overwritten),
 * writes the DISK_PAGES into it as they come, and hands the files to the machine once the last arrived. Every field
 * is untrusted: a slot must be an announced disk's, a span must lie inside it. If the move fails, the files it made
 * are removed.
 */
public final class DiskCopyTarget implements AutoCloseable {
    /**
     * {@code writeback}: a descriptor of the same file whose page-cache writeback each span starts, -1 if none could be
     * had or once it is closed.
     */
    private record Disk(String id, Path path, long size, boolean readOnly, FileChannel file, AtomicInteger writeback, long[] written) {}

    /** The largest disk copied: its bitmaps (here and at the source) are 32 MiB. */
    public static final long MAX_SIZE = 1L << 40;

    private final List<Disk> disks = new ArrayList<>();
    /**
     * Starts each span's writeback while the next comes ({@code sync_file_range}, which blocks while the device's queue
     * is full: ~25 ms a 16 MiB span here, on the receiving thread that was a quarter of the copy's time).
     */
    private final ExecutorService writeback = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "disk writeback");
        t.setDaemon(true);
        return t;
    });
    /** Each receiving thread's page buffer (DISK_PAGES come on every connection, one reader thread each). */
    private final ThreadLocal<byte[]> raw = ThreadLocal.withInitial(() -> new byte[64 << 10]);
    private boolean kept;

    private DiskCopyTarget() {}

    /** A disk as SETUP announces it. */
    public record Announced(String id, String path, long size, boolean readOnly) {}

    /** Reads SETUP's disk list ({@link DiskCopySource#describe}) from {@code d}. */
    public static List<Announced> announced(Decoder d) {
        int n = d.varInt("disk count", VirtioSlots.COUNT);
        List<Announced> announced = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String id = d.string("disk id", DiskSpec.MAX_ID_BYTES);
            String path = d.string("disk path", 4096);
            long size = d.u64("disk size");
            boolean readOnly = d.bool("read-only");
            if (size <= 0 || size > MAX_SIZE) {
                throw d.malformed("disk " + id + " of " + size + " bytes (a copied disk is at most " + (MAX_SIZE >> 40) + " TiB)");
            }
            announced.add(new Announced(id, path, size, readOnly));
        }
        return announced;
    }

    /**
     * Makes each announced disk's file, at the path the destination's operator gave for its id ({@code migrate receive
     * --disk ID=PATH}: never one the source names). Throws a {@link MigrationException} naming the disk when it has no
     * path or its file cannot be made (and removes those it made).
     */
    public static DiskCopyTarget create(List<Announced> announced, Map<String, Path> paths) {
        DiskCopyTarget t = new DiskCopyTarget();
        try {
            for (Announced a : announced) {
                Path to = paths.get(a.id());
                if (to == null) {
                    throw new MigrationException(Kind.LOCAL, "disk " + a.id() + " (" + a.path() + " at the source) is sent with the guest:"
                            + " tell migrate receive where its copy goes with --disk " + a.id() + "=PATH (a new file)");
                }
                if (t.disks.stream().anyMatch(d -> d.id().equals(a.id()))) {
                    throw new MigrationException(Kind.PROTOCOL, "SETUP announces disk " + a.id() + " twice");
                }
                FileChannel f;
                try {
                    f = FileChannel.open(to, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                } catch (java.nio.file.FileAlreadyExistsException e) {
                    throw new MigrationException(Kind.LOCAL, "disk " + a.id() + ": " + to + " exists; a copied disk goes to a new file"
                            + " (migrate receive --disk " + a.id() + "=PATH)", e);
                } catch (IOException e) {
                    throw new MigrationException(Kind.LOCAL, "disk " + a.id() + ": cannot make " + to + ": " + e.getMessage(), e);
                }
                long words = (a.size() / Protocol.PAGE_SIZE + 64) / 64; // bounded by MAX_SIZE: at most 4 Mi words
                int writeback = LibC.open(to.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC); // a hint's: without it, the syncs wait longer
                t.disks.add(new Disk(a.id(), to, a.size(), a.readOnly(), f, new AtomicInteger(writeback), new long[(int) words])); // registered at once: removed on failure
                try {
                    f.write(ByteBuffer.wrap(new byte[1]), a.size() - 1); // its size, sparse
                } catch (IOException e) {
                    throw new MigrationException(Kind.LOCAL, "disk " + a.id() + ": cannot size " + to + ": " + e.getMessage(), e);
                }
            }
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    /** Makes what arrived so far durable, while the guest still runs at the source: the pause's own sync has little left. */
    public void sync() {
        for (Disk d : disks) {
            try {
                d.file().force(false);
            } catch (IOException e) {
                throw new MigrationException(Kind.LOCAL, "disk " + d.id() + ": " + d.path() + " could not be made durable: " + e.getMessage(), e);
            }
        }
    }

    /** Where each disk's copy is, by id. */
    public Map<String, Path> paths() {
        Map<String, Path> m = new LinkedHashMap<>();
        disks.forEach(d -> m.put(d.id(), d.path()));
        return m;
    }

    /**
     * Writes one DISK_PAGES message into its disk's file; throws {@link dev.stasis.snapshot.SnapshotFormatException} for
     * a bad one. Safe from the receiving threads at once: each span is on one connection, and spans share no bitmap word.
     */
    public long apply(Frame f) {
        Decoder d = f.decoder();
        int slot = d.varInt("disk slot", VirtioSlots.COUNT);
        if (slot >= disks.size()) {
            throw d.malformed("disk slot " + slot + " is not one of the " + disks.size() + " disks SETUP announced");
        }
        Disk disk = disks.get(slot);
        PageReader.Expanded x = PageReader.decodeSpan(f, d, raw.get(), (base, span) -> span > 0 && base % Protocol.PAGE_SIZE == 0 && base >= 0
                && base < disk.size() && span <= (disk.size() - base + Protocol.PAGE_SIZE - 1) / Protocol.PAGE_SIZE ? null
                : String.format("span of %d blocks at %d is not inside disk %s (%d bytes)", span, base, disk.id(), disk.size()));
        raw.set(x.raw());
        byte[] raw = x.raw();
        d.end("DISK_PAGES");
        PageReader.Span s = x.span();
        byte[] zeros = null;
        int from = 0;
        long blocks = 0;
        // Blocks with data that follow each other go in one write (their bytes follow each other in raw too).
        long runAt = -1;
        int runFrom = 0;
        int runLength = 0;
        try {
            for (int w = 0; w < s.sent().length; w++) {
                for (long v = s.sent()[w]; v != 0; v &= v - 1) {
                    int bit = Long.numberOfTrailingZeros(v);
                    long offset = s.gpa() + (long) (w * 64 + bit) * Protocol.PAGE_SIZE;
                    long block = offset / Protocol.PAGE_SIZE;
                    int len = (int) Math.min(Protocol.PAGE_SIZE, disk.size() - offset);
                    boolean wasWritten = (disk.written()[(int) (block >>> 6)] & 1L << block) != 0;
                    if ((s.zero()[w] & 1L << bit) != 0) {
                        if (wasWritten) { // a block sent with data before and zero now (a new file reads zero elsewhere)
                            zeros = zeros != null ? zeros : new byte[Protocol.PAGE_SIZE];
                            write(disk, ByteBuffer.wrap(zeros, 0, len), offset);
                        }
                    } else {
                        if (runLength > 0 && runAt + runLength != offset) {
                            write(disk, ByteBuffer.wrap(raw, runFrom, runLength), runAt);
                            runLength = 0;
                        }
                        if (runLength == 0) {
                            runAt = offset;
                            runFrom = from;
                        }
                        runLength += len;
                        from += Protocol.PAGE_SIZE;
                        disk.written()[(int) (block >>> 6)] |= 1L << block;
                    }
                    blocks++;
                }
            }
            if (runLength > 0) {
                write(disk, ByteBuffer.wrap(raw, runFrom, runLength), runAt);
            }
            int hinted = disk.writeback().get();
            if (hinted >= 0) {
                // The span on its way to the disk now: the round's sync then waits for little (it was ~180 ms of a
                // 128 MiB round here). A hint: a failure shows in the sync.
                long at = s.gpa(), length = (long) s.span() * Protocol.PAGE_SIZE;
                try {
                    writeback.execute(() -> LibC.sync_file_range(hinted, at, length, LibC.SYNC_FILE_RANGE_WRITE));
                } catch (RejectedExecutionException e) {
                    // finished or closed: the file's own sync covers it, or it is removed
                }
            }
        } catch (IOException e) {
            throw new MigrationException(Kind.LOCAL, "disk " + disk.id() + ": writing its copy " + disk.path() + " failed: " + e.getMessage(), e);
        }
        return blocks;
    }

    private static void write(Disk disk, ByteBuffer data, long offset) throws IOException {
        while (data.hasRemaining()) {
            offset += disk.file().write(data, offset);
        }
    }

    /** Every block is in: makes the copies durable and closes them, to be opened (and locked) as the guest's disks. */
    public void finish() {
        boolean stopped = stopWriteback(); // the hints still queued are dropped: the sync below covers them
        for (Disk d : disks) {
            try {
                d.file().force(true);
                if (stopped) {
                    closeWriteback(d);
                }
                d.file().close();
            } catch (IOException e) {
                throw new MigrationException(Kind.LOCAL, "disk " + d.id() + ": " + d.path() + " could not be made durable: " + e.getMessage(), e);
            }
        }
    }

    /**
     * Drops the hints not started and waits for the one under way (it may block while the device's queue is full);
     * true when none runs any more, so their descriptors may be closed. A hint never fails a move.
     */
    private boolean stopWriteback() {
        writeback.shutdownNow();
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return writeback.awaitTermination(Channel.READ_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    interrupted = true; // the descriptors must not close under a running hint: wait on
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Once, by whichever of finish and close comes first. */
    private static void closeWriteback(Disk d) {
        int fd = d.writeback().getAndSet(-1);
        if (fd >= 0) {
            LibC.close(fd);
        }
    }

    /** The copies are the guest's now: {@link #close} leaves them. */
    public void keep() {
        kept = true;
    }

    /** Closes the copies and, unless {@link #keep} came first, removes them: a move that failed leaves no half disk. */
    @Override
    public void close() {
        boolean stopped = stopWriteback(); // a hint still running keeps its descriptor: never one closed and reused under it
        for (Disk d : disks) {
            if (stopped) {
                closeWriteback(d);
            }
            try {
                d.file().close();
            } catch (IOException ignored) {
                // removed below anyway
            }
            if (!kept) {
                try {
                    Files.deleteIfExists(d.path());
                } catch (IOException ignored) {
                    // left behind: the migration's own failure is what the user is told
                }
            }
        }
    }
}
