package dev.stasis.devices.virtio;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The virtio-blk device and the virtio-mmio transport driven by a driver written from the specification, on a real
 * image file and native memory standing for guest RAM (no VM: the KVM path is {@code BlkcheckTest}'s). Covers every
 * request type and what a hostile driver can do to a queue: each ends in an answer or a device that asks for a
 * reset, with a line saying why, never in a VMM failure or an access outside RAM.
 */
class VirtioBlkTest {
    static final long HDR = 0x10000, DATA = 0x11000, STATUS = 0x13000;
    static final long VERSION_1 = 1L << 32, FLUSH = 1L << 9;

    @TempDir
    Path dir;
    final List<String> log = new CopyOnWriteArrayList<>();
    final AtomicInteger interrupts = new AtomicInteger();
    final NativeRam ram = new NativeRam(8 << 20);
    VirtioBlk blk;

    @AfterEach
    void close() {
        if (blk != null) {
            blk.close();
        }
    }

    QueueDriver open(Path image, boolean readOnly) throws IOException {
        blk = new VirtioBlk(DiskImage.open(image, readOnly), "test-disk", ram, log::add);
        VirtioMmio t = new VirtioMmio("virtio-blk test-disk", blk, ram, interrupts::incrementAndGet, log::add);
        QueueDriver d = new QueueDriver(t, ram, interrupts);
        assertEquals(VirtioMmio.MAGIC, d.reg(0));
        assertEquals(2, d.reg(4));
        assertEquals(2, d.reg(8));
        assertEquals(0xb, d.negotiate(VERSION_1 | FLUSH));
        d.setUpQueue();
        d.driverOk();
        return d;
    }

    Path image(long size) throws IOException {
        Path p = dir.resolve("disk.img");
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    /** A three-descriptor request: header, {@code len} bytes of data at DATA (device-written for reads), status. */
    int[] request(QueueDriver d, int type, long sector, int len, boolean dataWritable) throws InterruptedException {
        ram.ram.setInt(HDR, type);
        ram.ram.setInt(HDR + 4, 0);
        ram.ram.setLong(HDR + 8, sector);
        ram.ram.setByte(STATUS, (byte) 0x7f);
        if (len > 0) {
            d.desc(0, HDR, 16, 1, 1);
            d.desc(1, DATA, len, 1 | (dataWritable ? 2 : 0), 2);
        } else {
            d.desc(0, HDR, 16, 1, 2);
        }
        d.desc(2, STATUS, 1, 2, 0);
        d.submit(0);
        return d.awaitUsed();
    }

    int status() {
        return ram.ram.getByte(STATUS) & 0xff;
    }

    @Test
    void writesReadsFlushesAndNamesItself() throws Exception {
        Path img = image(1 << 20);
        QueueDriver d = open(img, false);
        byte[] block = new byte[4096];
        for (int i = 0; i < block.length; i++) {
            block[i] = (byte) (i * 7 + 3);
        }
        ram.ram.write(DATA, block, 0, block.length);
        int[] used = request(d, 1, 8, 4096, false);
        assertEquals(0, status());
        assertEquals(0, used[0]);
        assertEquals(1, used[1], "a write fills only the status byte");
        byte[] onDisk = new byte[4096];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(8 * 512);
            f.readFully(onDisk);
        }
        assertArrayEquals(block, onDisk, "the write reached the image at sector 8");

        ram.ram.setMemory(DATA, 4096, (byte) 0);
        used = request(d, 0, 8, 4096, true);
        assertEquals(0, status());
        assertEquals(4097, used[1]);
        assertArrayEquals(block, ram.ram.getByteArray(DATA, 4096), "read back into guest memory");

        request(d, 4, 0, 0, false);
        assertEquals(0, status(), "flush");

        used = request(d, 8, 0, 20, true);
        assertEquals(0, status());
        assertEquals("test-disk", new String(ram.ram.getByteArray(DATA, 9)));
        assertEquals(21, used[1]);
        // The device publishes the used index, then interrupts: the driver may see the one before the other.
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (interrupts.get() < 4 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertTrue(interrupts.get() >= 4, "each used chain raised the interrupt: " + interrupts.get());
        assertEquals((1 << 20) / 512, d.transport.read(0x100, 8), "capacity in sectors, from the configuration space");
        assertTrue(log.isEmpty(), log.toString());
    }

    @Test
    void discardAndWriteZeroesLeaveZeros() throws Exception {
        Path img = image(1 << 20);
        Files.write(img, filled(1 << 20));
        QueueDriver d = open(img, false);
        for (int type : new int[] {11, 13}) {
            long sector = type == 11 ? 0 : 64;
            ram.ram.setLong(DATA, sector);
            ram.ram.setInt(DATA + 8, 16);   // 8 KiB
            ram.ram.setInt(DATA + 12, 0);
            request(d, type, 0, 16, false);
            assertEquals(0, status(), "type " + type);
            byte[] back = new byte[8192];
            try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
                f.seek(sector * 512);
                f.readFully(back);
            }
            assertArrayEquals(new byte[8192], back, "type " + type + " left zeros");
        }
        request(d, 99, 0, 0, false);
        assertEquals(2, status(), "an unknown type is UNSUPP");
    }

    private static byte[] filled(int n) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, (byte) 0xa5);
        return b;
    }

    @Test
    void refusesWritesToAReadOnlyDiskAndAccessesPastTheEnd() throws Exception {
        Path img = image(64 * 512);
        QueueDriver d = open(img, true);
        assertNotEquals(0, d.transport.read(0x10, 4) & (1 << 5), "VIRTIO_BLK_F_RO offered");
        request(d, 1, 0, 512, false);
        assertEquals(1, status(), "a write to a read-only disk is IOERR");
        request(d, 0, 63, 1024, true);
        assertEquals(1, status(), "a read across the end is IOERR");
        request(d, 0, -1L, 512, true);
        assertEquals(1, status(), "a sector that would overflow is IOERR");
        request(d, 0, 0, 100, true);
        assertEquals(1, status(), "a read of part of a sector is IOERR");
        assertEquals(4, log.size(), log.toString());
        assertTrue(log.get(0).contains("read-only"), log.get(0));
        request(d, 0, 62, 1024, true);
        assertEquals(0, status(), "the device goes on");
    }

    @Test
    void anImageThatShrankIsAnIoErrorNotAFailure() throws Exception {
        Path img = image(1 << 20);
        QueueDriver d = open(img, false);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(4096);
        }
        request(d, 0, 1024, 4096, true);
        assertEquals(1, status());
        assertTrue(log.stream().anyMatch(l -> l.contains("shrink")), log.toString());
        request(d, 0, 0, 4096, true);
        assertEquals(0, status(), "what is still there reads");
    }

    /**
     * A disk failing as a dying one does: the kernel answers EIO (a FUSE file system of the test's, {@link FaultyFile}).
     * Each read, write or flush that meets the error is answered IOERR with a line naming the disk, the offset and
     * the error; the device and the blocks that are still good go on, and a flush works again once the disk does.
     */
    @Test
    void eioFromTheDiskIsAnIoErrorForThatRequestAndTheRestGoesOn() throws Exception {
        try (FaultyFile disk = FaultyFile.mount(Files.createDirectories(dir.resolve("fuse")), 1 << 20)) {
            try {
                QueueDriver d = open(disk.path(), false);
                blk.image().fingerprint(); // the scan of what it held at open is done before it starts failing
                disk.failing(at -> at >= 8 * 4096 && at < 9 * 4096); // block 8: sectors 64-71
                request(d, 0, 64, 4096, true);
                assertEquals(1, status(), "a read of the failing block");
                assertTrue(log.stream().anyMatch(l -> l.contains("test-disk") && l.contains("at 32768") && l.contains("Input/output error")), log.toString());
                request(d, 1, 70, 1024, false);
                assertEquals(1, status(), "a write that ends in the failing block");

                byte[] block = new byte[4096];
                java.util.Arrays.fill(block, (byte) 0x5a);
                ram.ram.write(DATA, block, 0, block.length);
                request(d, 1, 16, 4096, false);
                assertEquals(0, status(), "a write elsewhere");
                ram.ram.setMemory(DATA, 4096, (byte) 0);
                request(d, 0, 16, 4096, true);
                assertEquals(0, status());
                assertArrayEquals(block, ram.ram.getByteArray(DATA, 4096), "read back");

                disk.failSyncs.set(true);
                int before = log.size();
                request(d, 4, 0, 0, false);
                assertEquals(1, status(), "a flush the disk fails");
                assertTrue(log.subList(before, log.size()).stream().anyMatch(l -> l.contains("Input/output error")), log.toString());
                disk.failSyncs.set(false);
                request(d, 4, 0, 0, false);
                assertEquals(0, status(), "a flush once the disk syncs again");
            } finally {
                close(); // the device lets go of the file before its file system goes
                blk = null;
            }
        }
    }

    @Test
    void aLoopingChainBreaksTheDeviceUntilReset() throws Exception {
        QueueDriver d = open(image(1 << 20), false);
        d.desc(0, DATA, 512, 1 | 2, 1);
        d.desc(1, DATA, 512, 1 | 2, 0); // back to 0: a loop
        d.submit(0);
        d.awaitNeedsReset(log, "loop");
        assertNotEquals(0, d.reg(0x60) & 2, "a configuration-change interrupt tells the driver");
        // The driver resets and the device serves again.
        assertEquals(0xb, d.negotiate(VERSION_1));
        d.setUpQueue();
        d.driverOk();
        request(d, 0, 0, 512, true);
        assertEquals(0, status());
    }

    @Test
    void everyOtherBrokenRingIsRefusedByName() throws Exception {
        Path img = image(1 << 20);
        for (String says : List.of("outside guest RAM", "indirect", "readable after a writable", "moved", "outside the table")) {
            log.clear();
            if (blk != null) {
                blk.close();
            }
            QueueDriver d = open(img, false);
            switch (says) {
                case "outside guest RAM" -> {
                    d.desc(0, HDR, 16, 1, 1);
                    d.desc(1, (8 << 20) - 256, 512, 1 | 2, 2);
                    d.desc(2, STATUS, 1, 2, 0);
                    d.submit(0);
                }
                case "indirect" -> {
                    d.desc(0, HDR, 16, 4, 0);
                    d.submit(0);
                }
                case "readable after a writable" -> {
                    d.desc(0, STATUS, 1, 1 | 2, 1);
                    d.desc(1, HDR, 16, 0, 0);
                    d.submit(0);
                }
                case "moved" -> {
                    ram.ram.setShort(QueueDriver.AVAIL + 2, (short) 1000);
                    d.set(0x50, 0);
                }
                case "outside the table" -> {
                    d.desc(0, HDR, 16, 1, 40);
                    d.submit(0);
                }
                default -> fail();
            }
            d.awaitNeedsReset(log, says);
        }
    }

    @Test
    void aQueueMadeReadyBeforeFeaturesAreNegotiatedIsRefused() throws Exception {
        blk = new VirtioBlk(DiskImage.open(image(1 << 20), false), "early", ram, log::add);
        VirtioMmio t = new VirtioMmio("virtio-blk early", blk, ram, interrupts::incrementAndGet, log::add);
        QueueDriver d = new QueueDriver(t, ram, interrupts);
        d.set(0x70, 0);
        d.set(0x70, 3);
        d.set(0x50, 0);
        assertTrue(log.stream().anyMatch(l -> l.contains("before the driver set DRIVER_OK")), log.toString());
        d.setUpQueue();
        assertNotEquals(0, d.reg(0x70) & 0x40);
        assertTrue(log.stream().anyMatch(l -> l.contains("before the features were negotiated")), log.toString());
        // Features without VERSION_1 are not accepted: FEATURES_OK does not stick.
        assertEquals(0, d.negotiate(FLUSH) & 8);
    }

    @Test
    void savedStateResumesWhereTheQueueStood() throws Exception {
        Path img = image(1 << 20);
        QueueDriver d = open(img, false);
        request(d, 0, 0, 512, true);
        blk.quiesce();
        // A request made available while quiesced is not taken: it stays in the ring, behind the saved index.
        ram.ram.setInt(HDR, 8);
        d.desc(0, HDR, 16, 1, 1);
        d.desc(1, DATA, 20, 1 | 2, 2);
        d.desc(2, STATUS, 1, 2, 0);
        d.submit(0);
        Thread.sleep(50);
        assertEquals(1, d.usedIdx());
        VirtioMmioState saved = d.transport.save();
        assertEquals(1, saved.queues().get(0).lastAvail());
        assertEquals(1, saved.queues().get(0).usedIdx());
        blk.close();

        // Another device on the same image and memory: the restored transport takes the pending request at once.
        blk = new VirtioBlk(DiskImage.open(img, false), "test-disk", ram, log::add);
        VirtioMmio again = new VirtioMmio("virtio-blk test-disk", blk, ram, interrupts::incrementAndGet, log::add);
        assertNull(again.mismatch(saved));
        again.restore(saved);
        QueueDriver d2 = new QueueDriver(again, ram, interrupts);
        d2.availIdx = 2;
        d2.usedSeen = 1;
        int[] used = d2.awaitUsed();
        assertEquals(21, used[1]);
        assertEquals("test-disk", new String(ram.ram.getByteArray(DATA, 9)));
        assertEquals(saved.status(), again.save().status());
    }

    @Test
    void randomRegisterAccessesAndRingBytesNeverFailTheVmmAndAlwaysSave() throws Exception {
        QueueDriver d = open(image(1 << 20), false);
        java.util.Random random = new java.util.Random(12345);
        int[] sizes = {1, 2, 4, 8};
        for (int i = 0; i < 200_000; i++) {
            long offset = random.nextInt(VirtioMmio.WINDOW + 16);
            int size = sizes[random.nextInt(sizes.length)];
            if (random.nextBoolean()) {
                d.transport.read(offset, size);
            } else {
                // Mostly small values, so negotiation and queue setup get somewhere; sometimes any 32 bits.
                long value = random.nextInt(4) == 0 ? random.nextInt() : random.nextInt(64) * 0x1000L;
                d.transport.write(offset, size, value);
            }
            if (i % 1000 == 0) {
                byte[] junk = new byte[0x3000];
                random.nextBytes(junk);
                ram.ram.write(QueueDriver.DESC, junk, 0, junk.length);
                blk.quiesce();
                VirtioMmioState state = d.transport.save();
                VirtioMmioState back = VirtioMmioState.DESCRIPTION.load(VirtioMmioState.DESCRIPTION.save(state), 1);
                assertEquals(state, back, "whatever the driver wrote saves and loads");
                blk.resume();
            }
        }
    }

    @Test
    void sectorsThatWouldWrapAroundAreRefusedAndTheImageKeepsItsSize() throws Exception {
        Path img = image(1 << 20);
        QueueDriver d = open(img, false);
        long wraps = (1L << 31) - (1L << 55); // negative: times 512 it would land inside the first terabyte
        request(d, 1, wraps, 512, false);
        assertEquals(1, status(), "a write at a negative sector is IOERR");
        ram.ram.setLong(DATA, wraps);
        ram.ram.setInt(DATA + 8, 8);
        ram.ram.setInt(DATA + 12, 0);
        request(d, 13, 0, 16, false);
        assertEquals(1, status(), "write-zeroes at a negative sector is IOERR");
        assertEquals(1 << 20, Files.size(img), "nothing was written outside the image");
    }

    @Test
    void aRequestAsLargeAsTheDriverWasToldItMayBeIsServed() throws Exception {
        Path img = image(4 << 20);
        QueueDriver d = open(img, false);
        assertEquals(1 << 20, d.transport.read(0x100 + 8, 4), "size_max");
        int len = 2 << 20; // two buffers of size_max: over the 4 MiB cap it once had, well under seg_max of them
        ram.ram.setMemory(0x200000, len, (byte) 0x3c);
        ram.ram.setInt(HDR, 1);
        ram.ram.setLong(HDR + 8, 0);
        d.desc(0, HDR, 16, 1, 1);
        d.desc(1, 0x200000, 1 << 20, 1, 2);
        d.desc(2, 0x300000, 1 << 20, 1, 3);
        d.desc(3, STATUS, 1, 2, 0);
        d.submit(0);
        d.awaitUsed();
        assertEquals(0, status());
        byte[] back = Files.readAllBytes(img);
        for (int i = 0; i < len; i += 4096) {
            assertEquals(0x3c, back[i], "byte " + i);
        }
    }
}
