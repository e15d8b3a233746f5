package dev.stasis.devices.virtio.blk;

import dev.stasis.devices.DmaMemory;
import dev.stasis.devices.virtio.DescriptorChain;
import dev.stasis.devices.virtio.VirtioDevice;
import dev.stasis.devices.virtio.VirtioMmio;
import dev.stasis.devices.virtio.Virtqueue;
import dev.stasis.devices.virtio.VirtqueueException;
import dev.stasis.os.EventFd;
import dev.stasis.os.UninterruptibleJoin;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * A virtio block device (virtio 1.2, 5.2) on a raw {@link DiskImage}: read, write, flush, get-ID, discard and
 * write-zeroes, one request queue. Requests run on the device's own I/O thread, woken by a doorbell eventfd that KVM
 * rings itself when an ioeventfd is attached to the transport's QueueNotify register, so a queue kick never runs
 * disk I/O on a vCPU thread. Data moves between the file and guest memory in place (pread/pwrite into the guest's
 * buffers), and every page it fills is recorded as written.
 *
 * <p>A request the device cannot do gets VIRTIO_BLK_S_IOERR (a read past the image's end, a write to a read-only
 * disk, an I/O error, each said once in the log) or VIRTIO_BLK_S_UNSUPP (an unknown type); a chain that breaks the
 * virtqueue's rules breaks the device until the driver resets it. Nothing a guest puts in a queue reaches outside
 * its RAM or the image.
 */
public final class VirtioBlk implements VirtioDevice, AutoCloseable {
    public static final int DEVICE_ID = 2;
    static final int QUEUE_SIZE = 256;
    /** The most one data buffer may hold (size_max) and one request move (seg_max of them); more is refused as an I/O error. */
    static final int SIZE_MAX = 1 << 20;
    static final long MAX_REQUEST_BYTES = (long) (QUEUE_SIZE - 2) * SIZE_MAX;
    static final int MAX_DISCARD_SEGMENTS = 32;
    static final long MAX_ZERO_SECTORS = (1L << 32) - 1;

    static final long F_SIZE_MAX = 1L << 1, F_SEG_MAX = 1L << 2, F_RO = 1L << 5, F_BLK_SIZE = 1L << 6, F_FLUSH = 1L << 9,
            F_DISCARD = 1L << 13, F_WRITE_ZEROES = 1L << 14;
    static final int T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13;
    static final int S_OK = 0, S_IOERR = 1, S_UNSUPP = 2;
    static final int HEADER_BYTES = 16, SEGMENT_BYTES = 16;

    private final DiskImage image;
    private final String id;
    private final DmaMemory memory;
    private final Consumer<String> log;
    private final byte[] config;
    private final EventFd doorbell = EventFd.blocking();
    private final Thread worker;

    private final Object lock = new Object();
    private Virtqueue queue;          // guarded by lock; null while inactive
    private Events events;            // guarded by lock
    private boolean quiesced;         // guarded by lock
    private boolean busy;             // guarded by lock
    private volatile boolean closing;
    private final byte[] header = new byte[HEADER_BYTES];
    private long errorsReported;

    public VirtioBlk(DiskImage image, String id, DmaMemory memory, Consumer<String> log) {
        this.image = image;
        this.id = id;
        this.memory = memory;
        this.log = log;
        this.config = configSpace(image.sectors());
        this.worker = new Thread(this::serve, "virtio-blk " + id);
        worker.setDaemon(true);
        worker.start();
    }

    /** virtio_blk_config (virtio 1.2, 5.2.4): capacity, size_max, seg_max, blk_size, and the discard and write-zeroes limits. */
    private static byte[] configSpace(long sectors) {
        ByteBuffer b = ByteBuffer.allocate(60).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(0, sectors);
        b.putInt(8, SIZE_MAX);            // size_max: one buffer
        b.putInt(12, QUEUE_SIZE - 2);     // seg_max: data buffers beside the header and the status
        b.putInt(20, DiskImage.SECTOR);   // blk_size
        b.putInt(36, (int) MAX_ZERO_SECTORS); // max_discard_sectors
        b.putInt(40, MAX_DISCARD_SEGMENTS);
        b.putInt(44, 8);                  // discard_sector_alignment: 4 KiB
        b.putInt(48, (int) MAX_ZERO_SECTORS); // max_write_zeroes_sectors
        b.putInt(52, MAX_DISCARD_SEGMENTS);
        b.put(56, (byte) 1);              // write_zeroes_may_unmap
        return b.array();
    }

    public String id() { return id; }
    public DiskImage image() { return image; }

    /** The eventfd a queue notification rings: attach it to the transport's QueueNotify with KVM_IOEVENTFD. */
    public EventFd doorbell() { return doorbell; }

    @Override public int deviceId() { return DEVICE_ID; }

    @Override
    public long features() {
        return VirtioMmio.F_VERSION_1 | F_SIZE_MAX | F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_DISCARD | F_WRITE_ZEROES | (image.readOnly() ? F_RO : 0);
    }

    @Override public int queueCount() { return 1; }
    @Override public int maxQueueSize() { return QUEUE_SIZE; }
    @Override public byte[] config() { return config.clone(); }

    @Override
    public void activate(long features, List<Virtqueue> queues, Events events) {
        synchronized (lock) {
            queue = null; // a drain of another queue stops after its chain in progress
            awaitIdle();
            this.queue = queues.get(0);
            this.events = events;
        }
        doorbell.signal(); // look once: a notification may have been lost with the process that saved this queue
    }

    @Override
    public void deactivate() {
        synchronized (lock) {
            queue = null; // first: a guest that keeps its ring full must not keep the drain (and this vCPU) going
            awaitIdle();
            events = null;
        }
    }

    @Override
    public void notifyQueue(int q) {
        doorbell.signal();
    }

    @Override
    public void quiesce() {
        synchronized (lock) {
            quiesced = true;
            awaitIdle();
        }
    }

    @Override
    public void resume() {
        synchronized (lock) {
            quiesced = false;
        }
        doorbell.signal();
    }

    private void awaitIdle() {
        UninterruptibleJoin.until(lock, () -> !busy);
    }

    /** The image flushed, and what it is now (taken while quiesced: nothing writes it meanwhile). */
    public VirtioBlkState identity() throws IOException {
        image.flush();
        return new VirtioBlkState(id, image.readOnly(), image.path().toAbsolutePath().toString(), image.size(), image.fingerprint(),
                DiskImage.FINGERPRINT_METHOD);
    }

    private void serve() {
        while (!closing) {
            doorbell.take();
            Virtqueue q;
            Events ev;
            synchronized (lock) {
                if (closing || quiesced || queue == null) {
                    continue;
                }
                q = queue;
                ev = events;
                busy = true;
            }
            try {
                drain(q, ev);
            } finally {
                synchronized (lock) {
                    busy = false;
                    lock.notifyAll();
                }
            }
        }
    }

    /** Serves every chain available, until none is or a quiesce asks to stop between two. */
    private void drain(Virtqueue q, Events ev) {
        int served = 0;
        try {
            while (true) {
                synchronized (lock) {
                    if (quiesced || closing || queue != q) {
                        break;
                    }
                }
                DescriptorChain chain = q.pop();
                if (chain == null) {
                    break;
                }
                q.push(chain, execute(chain));
                served++;
            }
        } catch (VirtqueueException | RuntimeException | Error e) {
            // A guest that breaks the ring (or makes the device fail, even out of memory) loses this device until it
            // resets it, nothing more; the I/O thread lives on.
            synchronized (lock) {
                if (queue == q) {
                    queue = null;
                }
            }
            ev.broken(e instanceof VirtqueueException ? e.getMessage() : "the device failed on a request: " + e);
        }
        boolean current;
        synchronized (lock) {
            current = queue == q; // a queue reset meanwhile gets no interrupt for what it no longer has
        }
        if (served > 0 && current && q.wantsInterrupt()) {
            ev.used();
        }
    }

    /** Does one request; returns the bytes written into the chain's writable buffers, the status byte included. */
    private int execute(DescriptorChain chain) {
        long writable = chain.writableBytes();
        if (writable < 1 || !chain.read(memory, 0, header, HEADER_BYTES)) {
            report("a request without a header or a status byte; returned unanswered");
            return 0;
        }
        ByteBuffer h = ByteBuffer.wrap(header).order(ByteOrder.LITTLE_ENDIAN);
        int type = h.getInt(0);
        long sector = h.getLong(8);
        long statusAt = writable - 1;
        int status;
        long dataIn = 0;
        try {
            switch (type) {
                case T_IN -> {
                    dataIn = statusAt;
                    status = move(chain, sector, dataIn, true);
                    if (status != S_OK) {
                        dataIn = 0;
                    }
                }
                case T_OUT -> status = image.readOnly() ? refuse("a write to a read-only disk") : move(chain, sector, chain.readableBytes() - HEADER_BYTES, false);
                case T_FLUSH -> {
                    image.flush();
                    status = S_OK;
                }
                case T_GET_ID -> {
                    byte[] serial = Arrays.copyOf(id.getBytes(StandardCharsets.US_ASCII), DiskSpec.MAX_ID_BYTES);
                    dataIn = Math.min(statusAt, serial.length);
                    chain.write(memory, 0, serial, (int) dataIn);
                    status = S_OK;
                }
                case T_DISCARD, T_WRITE_ZEROES -> status = image.readOnly() ? refuse("a discard or write-zeroes on a read-only disk") : ranges(chain, type == T_DISCARD);
                default -> status = S_UNSUPP;
            }
        } catch (IOException e) {
            report(e.getMessage());
            status = S_IOERR;
            dataIn = 0;
        }
        chain.write(memory, statusAt, new byte[] {(byte) status}, 1);
        return (int) (dataIn + 1);
    }

    /** Moves {@code length} bytes between sector {@code sector} and the chain's data buffers (after the header, before the status). */
    private int move(DescriptorChain chain, long sector, long length, boolean toGuest) throws IOException {
        if (length < 0 || length % DiskImage.SECTOR != 0 || length > MAX_REQUEST_BYTES) {
            return refuse("a " + (toGuest ? "read" : "write") + " of " + length + " bytes (not whole sectors, or over " + MAX_REQUEST_BYTES + ")");
        }
        if (sector < 0 || sector > image.sectors() || length / DiskImage.SECTOR > image.sectors() - sector) {
            return refuse("a " + (toGuest ? "read" : "write") + " past the end of the disk (sector " + sector + ", " + length + " bytes, "
                    + image.sectors() + " sectors)");
        }
        long file = sector * DiskImage.SECTOR;
        long skip = toGuest ? 0 : HEADER_BYTES;
        long left = length;
        for (DescriptorChain.Buffer b : toGuest ? chain.writable() : chain.readable()) {
            if (left == 0) {
                break;
            }
            if (skip >= b.length()) {
                skip -= b.length();
                continue;
            }
            int n = (int) Math.min(b.length() - skip, left);
            long at = file;
            memory.transfer(b.gpa() + skip, n, toGuest, (host, len) -> {
                if (toGuest) {
                    image.read(at, host, len);
                } else {
                    image.write(at, host, len);
                }
                return len;
            });
            file += n;
            left -= n;
            skip = 0;
        }
        return S_OK;
    }

    /** DISCARD and WRITE_ZEROES: each segment {sector, num_sectors, flags} (virtio 1.2, 5.2.6). */
    private int ranges(DescriptorChain chain, boolean discard) throws IOException {
        long bytes = chain.readableBytes() - HEADER_BYTES;
        if (bytes <= 0 || bytes % SEGMENT_BYTES != 0 || bytes / SEGMENT_BYTES > MAX_DISCARD_SEGMENTS) {
            return refuse("a " + (discard ? "discard" : "write-zeroes") + " with " + bytes + " bytes of segments");
        }
        byte[] segment = new byte[SEGMENT_BYTES];
        for (long at = HEADER_BYTES; at < HEADER_BYTES + bytes; at += SEGMENT_BYTES) {
            chain.read(memory, at, segment, SEGMENT_BYTES);
            ByteBuffer seg = ByteBuffer.wrap(segment).order(ByteOrder.LITTLE_ENDIAN);
            long sector = seg.getLong(0);
            long count = Integer.toUnsignedLong(seg.getInt(8));
            int flags = seg.getInt(12);
            boolean unmap = (flags & 1) != 0;
            if ((flags & ~1) != 0 || (discard && unmap)) {
                return S_UNSUPP;
            }
            if (sector < 0 || sector > image.sectors() || count > image.sectors() - sector) {
                return refuse("a " + (discard ? "discard" : "write-zeroes") + " past the end of the disk (sector " + sector + ", " + count + " sectors)");
            }
            if (count == 0) {
                continue; // nothing to do, and fallocate refuses an empty range
            }
            if (discard || unmap) {
                image.punchHole(sector * DiskImage.SECTOR, count * DiskImage.SECTOR);
            } else {
                image.zero(sector * DiskImage.SECTOR, count * DiskImage.SECTOR);
            }
        }
        return S_OK;
    }

    private int refuse(String what) {
        report(what + ": answered with an I/O error");
        return S_IOERR;
    }

    /** Tells the first ten troubles in full, then that more follow: a guest must not be able to flood the log. */
    private void report(String line) {
        errorsReported++;
        if (errorsReported <= 10) {
            log.accept("virtio-blk " + id + ": " + line);
        } else if (errorsReported == 11) {
            log.accept("virtio-blk " + id + ": more errors follow; not told one by one");
        }
    }

    /** Stops the I/O thread (after the request in progress) and lets go of the image and its lock. */
    @Override
    public synchronized void close() {
        if (closing) {
            return;
        }
        closing = true;
        doorbell.signal();
        try {
            worker.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            // Stuck in the kernel (a flush on a hung file system): its descriptors stay open rather than be reused under it.
            log.accept("virtio-blk " + id + ": the I/O thread did not end in 30 s; the image stays open until the process exits");
            return;
        }
        doorbell.close();
        image.close();
    }
}
