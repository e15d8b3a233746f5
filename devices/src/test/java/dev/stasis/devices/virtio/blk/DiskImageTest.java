package dev.stasis.devices.virtio.blk;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.jna.Memory;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The disk image's content fingerprint: it says whether the content is the same (not the allocation), and the
 * value a write keeps up to date equals the one a fresh open computes from the file, whatever the writes, also while
 * the scan of the opened image is still running.
 */
class DiskImageTest {
    @TempDir
    Path dir;

    Path sparse(String name, long size) throws IOException {
        Path p = dir.resolve(name);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
        return p;
    }

    static byte[] fingerprintOf(Path p) throws IOException {
        try (DiskImage d = DiskImage.open(p, true)) {
            return d.fingerprint();
        }
    }

    @Test
    void theFingerprintFollowsTheContentNotTheAllocation() throws Exception {
        Path holes = sparse("holes.img", 1 << 20);
        Path zeros = dir.resolve("zeros.img");
        Files.write(zeros, new byte[1 << 20]);
        assertArrayEquals(fingerprintOf(holes), fingerprintOf(zeros), "a hole and written zeros are the same content");
        byte[] before = fingerprintOf(zeros);
        try (RandomAccessFile f = new RandomAccessFile(zeros.toFile(), "rw")) {
            f.seek(777_777);
            f.write(1);
        }
        assertFalse(java.util.Arrays.equals(before, fingerprintOf(zeros)), "one byte changed");
        try (RandomAccessFile f = new RandomAccessFile(zeros.toFile(), "rw")) {
            f.seek(777_777);
            f.write(0);
        }
        assertArrayEquals(before, fingerprintOf(zeros), "and changed back");
        Path swapped = dir.resolve("swapped.img");
        byte[] a = new byte[8192];
        a[10] = 1;
        Files.write(swapped, a);
        byte[] b = new byte[8192];
        b[4096 + 10] = 1;
        assertFalse(java.util.Arrays.equals(fingerprintOf(swapped), fingerprintOf(Files.write(dir.resolve("other.img"), b))),
                "the same block at another place is other content");
    }

    @Test
    void writesKeepTheFingerprintOfAFreshOpenEvenDuringTheFirstScan() throws Exception {
        Path p = sparse("disk.img", 64 << 20);
        Random random = new Random(42);
        byte[] chunk = new byte[1 << 20];
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            for (int mib = 0; mib < 64; mib += 2) { // data and holes by turns: the scan has something to do
                random.nextBytes(chunk);
                f.seek((long) mib << 20);
                f.write(chunk);
            }
        }
        Memory buf = new Memory(64 << 10);
        byte[] kept;
        try (DiskImage d = DiskImage.open(p, false)) {
            for (int i = 0; i < 400; i++) { // at once: most land while the scan of the 32 MiB of data runs
                long offset = (long) random.nextInt((64 << 20) / 512 - 128) * 512;
                int length = 512 * (1 + random.nextInt(128));
                switch (random.nextInt(4)) {
                    case 0, 1 -> {
                        byte[] bytes = new byte[length];
                        random.nextBytes(bytes);
                        buf.write(0, bytes, 0, length);
                        d.write(offset, buf, length);
                    }
                    case 2 -> d.punchHole(offset, length);
                    default -> d.zero(offset, length);
                }
            }
            kept = d.fingerprint();
        }
        assertArrayEquals(fingerprintOf(p), kept, "what the writes kept is what the file holds");
    }

    /** A base held in memory, for the overlay. */
    static final class MemoryBase implements DiskBase {
        final byte[] bytes;
        boolean closed;

        MemoryBase(byte[] bytes) {
            this.bytes = bytes;
        }

        @Override
        public long size() {
            return bytes.length;
        }

        @Override
        public void read(long offset, java.nio.ByteBuffer into) {
            into.put(bytes, (int) offset, into.remaining());
        }

        @Override
        public byte[] fingerprint() {
            return fingerprint;
        }

        byte[] fingerprint;

        @Override
        public void close() {
            closed = true;
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aCopyOnWriteDiskReadsAsTheSameWritesOnAPlainImageWouldLeaveIt(boolean savedFingerprint) throws Exception {
        int size = (8 << 20) + 3 * 512; // not a whole number of blocks
        byte[] content = new byte[size];
        Random random = new Random(9);
        for (int at = 0; at < size; at += 8192) {
            int n = Math.min(4096, size - at);
            byte[] block = new byte[n];
            random.nextBytes(block);
            System.arraycopy(block, 0, content, at, n); // every other block data, the rest zeros
        }
        Path plain = Files.write(dir.resolve("plain.img"), content);
        Path overlayFile = sparse("overlay.img", size);
        MemoryBase base = new MemoryBase(content.clone());
        if (savedFingerprint) { // as a snapshot file gives it: no scan, each block's hash taken when first changed
            base.fingerprint = fingerprintOf(plain);
        }
        Memory buf = new Memory(256 << 10);
        byte[] expected;
        byte[] kept;
        try (DiskImage ref = DiskImage.open(plain, false); DiskImage cow = DiskImage.openOverlay(overlayFile, false, base)) {
            assertFalse(Files.exists(overlayFile), "the overlay has no name once open");
            assertArrayEquals(ref.fingerprint(), cow.fingerprint(), "before any write: the base's content");
            for (int i = 0; i < 300; i++) {
                long offset = (long) random.nextInt(size / 512 - 300) * 512;
                int length = 512 * (1 + random.nextInt(256));
                switch (random.nextInt(4)) {
                    case 0, 1 -> {
                        byte[] bytes = new byte[length];
                        random.nextBytes(bytes);
                        buf.write(0, bytes, 0, length);
                        ref.write(offset, buf, length);
                        cow.write(offset, buf, length);
                    }
                    case 2 -> {
                        ref.punchHole(offset, length);
                        cow.punchHole(offset, length);
                    }
                    default -> {
                        ref.zero(offset, length);
                        cow.zero(offset, length);
                    }
                }
                if (i % 50 == 0) {
                    int at = random.nextInt(size - (256 << 10));
                    Memory a = new Memory(256 << 10);
                    Memory b = new Memory(256 << 10);
                    ref.read(at, a, 256 << 10);
                    cow.read(at, b, 256 << 10);
                    assertArrayEquals(a.getByteArray(0, 256 << 10), b.getByteArray(0, 256 << 10), "read at " + at + " after " + i + " changes");
                }
            }
            Memory all = new Memory(size);
            cow.read(0, all, size);
            expected = Files.readAllBytes(plain);
            assertArrayEquals(expected, all.getByteArray(0, size), "the whole disk, merged, is the plain image");
            kept = cow.fingerprint();
            assertArrayEquals(ref.fingerprint(), kept, "and so is its fingerprint");
        }
        assertArrayEquals(content, base.bytes, "the base was never written");
        assertTrue(base.closed, "the image let go of its base");
        assertArrayEquals(fingerprintOf(plain), kept, "the fingerprint of a fresh open of the plain image");
    }
}
