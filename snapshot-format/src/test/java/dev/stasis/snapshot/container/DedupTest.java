package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Format 1.1 page references: round trips, determinism, and forged references refused. */
class DedupTest {
    @TempDir
    Path dir;

    /** Three ranges, 64 KiB chunks; pages drawn from 12 distinct contents, zero, or unique random bytes. */
    static FakeRam duplicates(boolean direct, long seed) {
        FakeRam ram = new FakeRam(FakeRam.layout(1024), direct);
        Random rnd = new Random(seed);
        byte[][] contents = new byte[12][4096];
        for (byte[] c : contents) {
            rnd.nextBytes(c);
        }
        contents[3] = new byte[4096];
        contents[3][4095] = 1; // zero but for the last byte
        for (RamRange r : ram.ranges()) {
            ByteBuffer w = ram.window(r.gpa(), (int) Math.min(r.size(), Integer.MAX_VALUE));
            for (int p = 0; p < r.size() / 4096; p++) {
                int k = rnd.nextInt(20);
                byte[] page = new byte[4096];
                if (k < 12) {
                    page = contents[k];
                } else if (k < 16) {
                    rnd.nextBytes(page);
                }
                w.put(p * 4096, page);
            }
        }
        return ram;
    }

    @Test
    void duplicatePagesAcrossChunksAndRangesRoundTrip() throws Exception {
        for (boolean direct : new boolean[] {true, false}) {
            for (int level : new int[] {0, 1}) {
                FakeRam ram = duplicates(direct, 7);
                Path f = dir.resolve("dups-" + direct + "-" + level + ".snap");
                WriteReport report = TestFiles.write(f, ram, TestFiles.options().withLevel(level));
                MemoryStats m = report.memory();
                assertTrue(m.referencedPages() > m.pages() / 3, m.toString());
                assertEquals(m.pages(), m.zeroPages() + m.storedPages() + m.referencedPages());
                assertTrue(m.storedPages() >= 12, m.toString());
                try (SnapshotReader r = SnapshotReader.open(f)) {
                    assertEquals(FormatVersion.CURRENT, r.formatVersion());
                    FakeRam zeroed = new FakeRam(ram.ranges(), true);
                    MemoryStats back = r.readMemory(zeroed, true, 3);
                    assertTrue(zeroed.sameBytes(ram));
                    assertEquals(m.referencedPages(), back.referencedPages());
                    assertEquals(m.storedPages(), back.storedPages());
                    FakeRam dirty = new FakeRam(ram.ranges(), !direct).garbage((byte) 0xa5);
                    r.readMemory(dirty, false, 1);
                    assertTrue(dirty.sameBytes(ram));
                    assertEquals(List.of(), r.verify());
                    long referenced = r.chunkSummaries().stream().mapToLong(SnapshotReader.ChunkSummary::referencedPages).sum();
                    assertEquals(m.referencedPages(), referenced);
                }
            }
        }
    }

    @Test
    void anyThreadCountWritesTheSameBytesWithReferencesAndSplices() throws Exception {
        for (FakeRam ram : List.of(duplicates(true, 9), SpliceReferenceTest.splicedCopies(true))) {
            Path one = dir.resolve("one.snap");
            Path four = dir.resolve("four.snap");
            assertTrue(TestFiles.write(one, ram, TestFiles.options().withThreads(1)).memory().referencedPages() > 0);
            TestFiles.write(four, ram, TestFiles.options().withThreads(4));
            assertEquals(-1, Files.mismatch(one, four));
        }
    }

    @Test
    void aHashCollisionStoresThePage() {
        FakeRam ram = new FakeRam(List.of(new RamRange(0, 64 << 10)), true);
        ByteBufferFill.random(ram.window(0, 2 * 4096), new Random(1));
        MemoryMap.Chunk chunk = new MemoryMap.Chunk(0, 0, 64 << 10);
        PageDedup.Scan scan = PageDedup.scan(ram, chunk);
        assertEquals(2, scan.nonZeroPages);
        scan.hashes[1] = scan.hashes[0]; // as if the two different pages collided
        PageDedup.assign(new MemoryMap.Chunk[] {chunk}, new PageDedup.Scan[] {scan});
        assertArrayEquals(new int[] {1}, scan.refPages);
        try (ChunkEncoder e = new ChunkEncoder(BlockType.CHUNK, 1, 64 << 10)) {
            ChunkEncoder.Encoded out = e.encode(ram, chunk, scan, ByteBuffer.allocateDirect(ChunkFormat.maxBlock(64 << 10)));
            assertEquals(2, out.storedPages());
            assertEquals(0, out.referencedPages());
            assertTrue(out.block().get(20) < ChunkFormat.CODEC_RAW_REFS, "a chunk without references is a 1.0 chunk");
        }
    }

    @Test
    void aFileWithoutDuplicatesIsAFormat10FileButForItsMinor() throws Exception {
        FakeRam ram = new FakeRam(List.of(new RamRange(0, 256 << 10)), true);
        ByteBufferFill.random(ram.window(0, 100 << 10), new Random(3));
        Path f = dir.resolve("plain.snap");
        assertEquals(0, TestFiles.write(f, ram, TestFiles.options()).memory().referencedPages());
        byte[] b = Files.readAllBytes(f);
        MutationTest.le(b).putShort(10, (short) 0).putInt(28, MutationTest.crc(b, 0, 28));
        Files.write(f, b);
        try (SnapshotReader r = SnapshotReader.open(f)) {
            assertEquals(new FormatVersion(1, 0), r.formatVersion());
            FakeRam back = new FakeRam(ram.ranges(), true);
            r.readMemory(back, true);
            assertTrue(back.sameBytes(ram));
        }
    }

    // ---- forged references ----

    /**
     * RAM [0, 128 KiB) and [1 MiB, +64 KiB), 64 KiB chunks. Page A at 0x0, zero at 0x1000, page B at 0x2000;
     * chunk 1: A at 0x10000 (reference to 0x0), A at 0x11000 (reference to 0x0), B at 0x12000 (reference to
     * 0x2000); chunk 2 (range 2): A at 0x100000.
     */
    private byte[] referenceFile() throws Exception {
        FakeRam ram = new FakeRam(List.of(new RamRange(0, 128 << 10), new RamRange(1 << 20, 64 << 10)), true);
        byte[] a = new byte[4096];
        byte[] b = new byte[4096];
        new Random(4).nextBytes(a);
        new Random(5).nextBytes(b);
        ram.window(0, 4096).put(a);
        ram.window(0x2000, 4096).put(b);
        ram.window(0x10000, 4096).put(a);
        ram.window(0x11000, 4096).put(a);
        ram.window(0x12000, 4096).put(b);
        ram.window(0x100000, 4096).put(a);
        Path f = dir.resolve("refs.snap");
        assertEquals(4, TestFiles.write(f, ram, TestFiles.options()).memory().referencedPages());
        return Files.readAllBytes(f);
    }

    /** Offset of the first source gpa in the reference list of the chunk block at {@code gpa}. */
    private static int referenceList(byte[] file, long gpa) {
        ByteBuffer b = MutationTest.le(file);
        int off = TestFiles.chunkBlock(file, gpa);
        assertEquals(ChunkFormat.CODEC_ZSTD_REFS == b.get(off + 20) || ChunkFormat.CODEC_RAW_REFS == b.get(off + 20), true);
        return off + 8 + ChunkFormat.HEAD + 2 * ChunkFormat.bitmapBytes(b.getInt(off + 16));
    }

    private void assertForgedRefused(byte[] original, long chunkGpa, int ref, long source, String expected) throws Exception {
        byte[] m = original.clone();
        int list = referenceList(m, chunkGpa);
        ByteBuffer b = MutationTest.le(m);
        b.putLong(list + ref * 8, source);
        int block = list;
        while (b.getInt(block) != BlockType.CHUNK.code || b.getLong(block + 8) != chunkGpa) {
            block--;
        }
        MutationTest.fixFrame(m, block, b.getInt(block + 4) + 12);
        Path f = dir.resolve("forged.snap");
        Files.write(f, m);
        String message = assertMalformed(f, expected);
        assertTrue(message.contains("chunk " + (chunkGpa == 0x10000 ? 1 : 2) + " (gpa " + Layout.hex(chunkGpa)), message);
        assertFalse(message.contains("\n"));
    }

    /** Reading {@code f}'s memory is refused as MALFORMED saying {@code expected}, and verify finds that one problem; the message. */
    static String assertMalformed(Path f, String expected) throws Exception {
        try (SnapshotReader r = SnapshotReader.open(f)) {
            SnapshotFormatException e = assertThrows(SnapshotFormatException.class, () -> r.readMemory(new FakeRam(r.memoryMap().ranges(), true), true));
            assertEquals(SnapshotFormatException.Kind.MALFORMED, e.kind());
            assertTrue(e.getMessage().contains(expected), e.getMessage());
            List<Problem> problems = r.verify();
            assertEquals(1, problems.size(), problems.toString());
            assertTrue(problems.get(0).message().contains(expected), problems.toString());
            return e.getMessage();
        }
    }

    @Test
    void forgedReferencesAreRefusedNamingChunkAndPage() throws Exception {
        byte[] file = referenceFile();
        try (SnapshotReader r = SnapshotReader.open(write(file))) {
            FakeRam back = new FakeRam(r.memoryMap().ranges(), true);
            r.readMemory(back, true);
            assertEquals(List.of(), r.verify());
        }
        assertEquals(0, MutationTest.le(file).getLong(referenceList(file, 0x10000)));
        assertForgedRefused(file, 0x10000, 0, 0x20000, "page 0 (gpa 0x10000) refers to gpa 0x20000, a later page");
        assertForgedRefused(file, 0x10000, 0, 0x11000, "page 0 (gpa 0x10000) refers to gpa 0x11000, a later page");
        assertForgedRefused(file, 0x10000, 1, 0x11000, "page 1 (gpa 0x11000) refers to gpa 0x11000, itself");
        assertForgedRefused(file, 0x10000, 1, 0x1000, "page 1 (gpa 0x11000) refers to gpa 0x1000, which is not a stored page of chunk 0");
        assertForgedRefused(file, 0x10000, 2, 0x2001, "page 2 (gpa 0x12000) refers to gpa 0x2001, which is not page aligned");
        assertForgedRefused(file, 0x100000, 0, 0x80000, "page 0 (gpa 0x100000) refers to gpa 0x80000, which is outside guest RAM");
        assertForgedRefused(file, 0x10000, 0, -4096, "refers to gpa 0xfffffffffffff000, a later page");
        // A chain: a reference to a reference.
        assertForgedRefused(file, 0x100000, 0, 0x10000, "page 0 (gpa 0x100000) refers to gpa 0x10000, which is not a stored page of chunk 1");
    }

    private Path write(byte[] bytes) throws Exception {
        Path f = dir.resolve("copy.snap");
        Files.write(f, bytes);
        return f;
    }
}
