package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Disk content in a snapshot file (format 1.3, {@code snapshot --with-disks}): DISK_MAP and DISK_CHUNK blocks after the
 * memory, encoded as memory chunks are. It reads back byte for byte beside the memory, zero pages left out and repeats
 * stored once; a disk whose size is not a whole number of pages keeps its size; a damaged disk chunk is found by
 * verify and named; and a disk is found by id or refused by name.
 */
class DiskContentTest {
    @TempDir
    Path dir;

    @Test
    void disksReadBackBesideTheMemoryAndVerify() throws Exception {
        Path file = dir.resolve("disks.stasis");
        FakeRam ram = new FakeRam(FakeRam.layout(256), true).fill(1);
        List<RamRange> oneMiB = List.of(new RamRange(0, 1 << 20));
        FakeRam data = new FakeRam(oneMiB, true).fill(2);
        FakeRam odd = new FakeRam(List.of(new RamRange(0, 12288)), true).fill(3); // 10 000 bytes, three pages
        byte[] page = new byte[4096];
        java.util.Arrays.fill(page, (byte) 0x5a);
        for (int p = 100; p < 140; p++) {
            data.window(p * 4096L, 4096).put(page); // repeats: stored once, referenced after
        }
        try (SnapshotWriter w = SnapshotWriter.create(file, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST);
            w.section("dev", 0, States.DEV_V2, new States.DevV2(3, 12));
            w.memory(ram);
            MemoryStats s = w.disk("data", 1 << 20, data, b -> { });
            assertTrue(s.referencedPages() >= 39, "repeated disk pages are references: " + s);
            w.disk("odd.disk-1", 10_000, odd, b -> { });
            assertThrows(SnapshotFormatException.class, () -> w.disk("data", 1 << 20, data, b -> { }), "a disk twice");
            w.commit();
        }
        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertEquals(List.of(new SnapshotReader.DiskContent("data", 1 << 20), new SnapshotReader.DiskContent("odd.disk-1", 10_000)), r.disks());
            assertEquals(List.of(), r.verify());
            FakeRam back = new FakeRam(oneMiB, true);
            r.readDisk("data", back, true, 2, b -> { });
            assertTrue(back.sameBytes(data), "the disk's bytes");
            FakeRam backOdd = new FakeRam(List.of(new RamRange(0, 12288)), true);
            r.readDisk("odd.disk-1", backOdd, true, 1, b -> { });
            assertTrue(backOdd.sameBytes(odd));
            FakeRam mem = new FakeRam(FakeRam.layout(256), true);
            r.readMemory(mem, true, 2);
            assertTrue(mem.sameBytes(ram), "the memory, beside the disks");
            SnapshotFormatException none = assertThrows(SnapshotFormatException.class, () -> r.diskAccess("nope"));
            assertTrue(none.getMessage().contains("no content of disk nope"), none.getMessage());
        }
        // A flipped byte in the last disk chunk: verify finds it and names the disk.
        long size = Files.size(file);
        try (SnapshotReader r = SnapshotReader.open(file)) {
            ChunkAccess a = r.diskAccess("data");
            long at = a.offset(a.count() - 1) + 40;
            try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
                f.seek(at);
                int b = f.read();
                f.seek(at);
                f.write(b ^ 0x10);
            }
        }
        assertEquals(size, Files.size(file));
        try (SnapshotReader r = SnapshotReader.open(file)) {
            List<Problem> problems = r.verify();
            assertEquals(1, problems.size(), problems.toString());
            assertTrue(problems.get(0).message().contains("disk data"), problems.toString());
        }
    }

    @Test
    void badDiskIdsAndSizesAreRefusedByTheWriter() throws Exception {
        try (SnapshotWriter w = SnapshotWriter.create(dir.resolve("x.stasis"), TestFiles.options())) {
            FakeRam d = new FakeRam(List.of(new RamRange(0, 4096)), true);
            w.disk("first", 4096, d, b -> { }); // before the memory: a live snapshot writes its disks first
            w.memory(new FakeRam(FakeRam.layout(64), true));
            assertThrows(SnapshotFormatException.class, () -> w.disk("a b", 4096, d, b -> { }));
            assertThrows(SnapshotFormatException.class, () -> w.disk("a", 0, d, b -> { }));
            assertThrows(SnapshotFormatException.class, () -> w.disk("a", 8192, d, b -> { }), "content that is not the size");
        }
    }
}
