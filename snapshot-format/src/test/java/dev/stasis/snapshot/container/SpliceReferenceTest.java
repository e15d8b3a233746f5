package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Format 1.4 splices (codecs 4 and 5): pages repeated at another offset found, round trips eager and lazy, forgeries refused. */
class SpliceReferenceTest {
    @TempDir
    Path dir;

    static final int BLOCK = 100 << 10;
    static final long FIRST = 0x1000;
    /** Copies of the block: shifted by 1000 bytes (across a chunk boundary), aligned, and in the second range shifted by 77. */
    static final long SHIFTED = 0x30000 + 1000;
    static final long ALIGNED = 0x50000;
    static final long OTHER_RANGE = (1 << 20) + 77;
    /** A file of 10 pages and 1000 bytes, its pages scattered (every third page from here), as a page cache holds it. */
    static final long SCATTERED = 0x70000;
    static final int FILE_BYTES = 10 * 4096 + 1000;
    /** The same file read on past its end, byte after byte, into 21 pages scattered the same way: 2 copies less 3 pages. */
    static final long WRAPPED = SCATTERED + 3 * 0x1000 * 11;
    static final int WRAPPED_PAGES = 21;

    /**
     * RAM [0, 896 KiB) and [1 MiB, +256 KiB), 64 KiB chunks: a random block of 100 KiB and three copies of it, a
     * scattered file and its bytes wrapped (the benchmark's pattern in small).
     */
    static FakeRam splicedCopies(boolean direct) {
        FakeRam ram = new FakeRam(List.of(new RamRange(0, 896 << 10), new RamRange(1 << 20, 256 << 10)), direct);
        byte[] block = new byte[BLOCK];
        new Random(11).nextBytes(block);
        for (long at : new long[] {FIRST, SHIFTED, ALIGNED, OTHER_RANGE}) {
            ram.window(at, BLOCK).put(block);
        }
        byte[] file = new byte[FILE_BYTES];
        new Random(12).nextBytes(file);
        for (int p = 0; p * 4096 < FILE_BYTES; p++) {
            ram.window(SCATTERED + 3L * 4096 * p, 4096).put(file, p * 4096, Math.min(4096, FILE_BYTES - p * 4096));
        }
        int at = 0;
        for (int p = 0; p < WRAPPED_PAGES; p++) {
            ByteBuffer w = ram.window(WRAPPED + 3L * 4096 * p, 4096);
            for (int i = 0; i < 4096; i++) {
                w.put(i, file[at]);
                at = (at + 1) % FILE_BYTES;
            }
        }
        return ram;
    }

    /** Pages wholly inside a copy at {@code at}: what a writer can make references of. */
    static int wholePages(long at) {
        long first = (at + 4095) / 4096;
        long end = (at + BLOCK) / 4096;
        return (int) (end - first);
    }

    /** The wrapped pages that repeat the file: all but the 11 that hold its first pass (one of them its end and start). */
    static final int WRAPPED_REPEATS = WRAPPED_PAGES - 11;

    @Test
    void bytesRepeatedAtAnotherOffsetAreStoredOnceAndComeBackEagerlyAndLazily() throws Exception {
        for (boolean direct : new boolean[] {true, false}) {
            for (int level : new int[] {0, 1}) {
                FakeRam ram = splicedCopies(direct);
                Path f = dir.resolve("shifted-" + direct + "-" + level + ".snap");
                MemoryStats m = TestFiles.write(f, ram, TestFiles.options().withLevel(level)).memory();
                // A page is missed when no anchor of it is found (rarely, for random bytes): nearly every whole page of the copies.
                int expected = wholePages(SHIFTED) + wholePages(ALIGNED) + wholePages(OTHER_RANGE) + WRAPPED_REPEATS;
                assertTrue(m.referencedPages() >= expected - 3 && m.referencedPages() <= expected + 11, m + ", expected about " + expected);
                assertTrue(m.storedPages() <= 25 + 4 + 11 + 11 + 3 - (m.referencedPages() - expected),
                        "the block and the file once, the pages the copies share with zero: " + m);
                byte[] bytes = Files.readAllBytes(f);
                assertTrue(codecs(bytes).contains(level == 0 ? ChunkFormat.CODEC_RAW_SPLICES : ChunkFormat.CODEC_ZSTD_SPLICES), codecs(bytes).toString());
                try (SnapshotReader r = SnapshotReader.open(f)) {
                    assertEquals(new FormatVersion(1, 4), r.formatVersion());
                    FakeRam zeroed = new FakeRam(ram.ranges(), true);
                    MemoryStats back = r.readMemory(zeroed, true, 3);
                    assertTrue(zeroed.sameBytes(ram));
                    assertEquals(m.referencedPages(), back.referencedPages());
                    FakeRam dirty = new FakeRam(ram.ranges(), !direct).garbage((byte) 0x5a);
                    r.readMemory(dirty, false, 1);
                    assertTrue(dirty.sameBytes(ram));
                    assertEquals(List.of(), r.verify());
                    assertLazyReadsMatch(r.chunkAccess(), ram);
                }
                try (SnapshotReader r = SnapshotReader.open(f)) {
                    assertPackedReadsMatch(r.chunkAccess(), ram, false);
                }
                try (SnapshotReader r = SnapshotReader.open(f)) {
                    assertPackedReadsMatch(r.chunkAccess(), ram, true);
                }
            }
        }
    }

    /** Every chunk read alone, as a lazy restore reads it on a fault: its non-zero pages are the guest's. */
    private static void assertLazyReadsMatch(ChunkAccess access, FakeRam ram) throws Exception {
        try (ChunkAccess.Reader reader = access.reader()) {
            ByteBuffer into = ByteBuffer.allocateDirect(access.chunkSize());
            for (int c = access.count() - 1; c >= 0; c--) { // last first: its sources are not cached yet
                for (int i = 0; i < into.capacity(); i++) {
                    into.put(i, (byte) 0);
                }
                ChunkAccess.PagePlacement placed = reader.read(c, into);
                ByteBuffer want = ram.window(access.gpa(c), access.length(c));
                assertEquals(-1, into.slice(0, access.length(c)).mismatch(want), "chunk " + c);
                for (int p = 0; p < access.length(c) / 4096; p++) {
                    boolean zero = ZeroPage.isZero(want.slice(p * 4096, 4096));
                    assertEquals(!zero, placed.nonZero(p), "chunk " + c + " page " + p);
                    assertTrue(zero || placed.at()[p] == p * 4096, "chunk " + c + " page " + p + " at its place");
                }
            }
        }
    }

    /**
     * Every chunk read packed, in address order as a lazy restore's fill reads them: each page where the placement says,
     * and the sources of references decoded apart again unless their chunks' heads were read first ({@code heads}), then
     * never.
     */
    private static void assertPackedReadsMatch(ChunkAccess access, FakeRam ram, boolean heads) throws Exception {
        try (ChunkAccess.Reader reader = access.reader()) {
            if (heads) {
                reader.findSources();
            }
            ByteBuffer into = ByteBuffer.allocateDirect(access.chunkSize());
            for (int i = 0; i < access.count(); i++) {
                int c = i;
                ChunkAccess.PagePlacement placed = reader.readPacked(c, into);
                ByteBuffer want = ram.window(access.gpa(c), access.length(c));
                int[] covered = {0};
                placed.forEachRun((from, to, at) -> {
                    assertEquals(-1, into.slice(at, (to - from) * 4096).mismatch(want.slice(from * 4096, (to - from) * 4096)), "chunk " + c + " pages " + from + "-" + to);
                    covered[0] += to - from;
                });
                int nonZero = 0;
                for (int p = 0; p < access.length(c) / 4096; p++) {
                    boolean zero = ZeroPage.isZero(want.slice(p * 4096, 4096));
                    assertEquals(!zero, placed.nonZero(p), "chunk " + c + " page " + p);
                    nonZero += zero ? 0 : 1;
                }
                assertEquals(nonZero, covered[0], "chunk " + c + ": the runs cover its non-zero pages");
            }
        }
        if (heads) {
            assertEquals(0, access.decodedApart(), "every source was kept from its own chunk's read");
        } else {
            assertTrue(access.decodedApart() > 0, "without the heads, a source read before it was known is decoded again");
        }
    }

    @Test
    void aLargeGuestKeepsAContentChosenPartOfItsAnchors() {
        assertEquals(0, PageDedup.anchorMask(1L << 20), "a 4 GiB guest keeps every anchor");
        assertEquals(3, PageDedup.anchorMask(1L << 22), "a 16 GiB guest one in four");
        FakeRam ram = splicedCopies(true);
        MemoryMap.Chunk chunk = new MemoryMap.Chunk(0, 0, 64 << 10);
        PageDedup.Scan all = PageDedup.scan(ram, chunk, 0);
        PageDedup.Scan part = PageDedup.scan(ram, chunk, 3);
        assertTrue(all.anchors > 40, all.anchors + " anchors in 15 pages of random bytes");
        assertTrue(part.anchors > 0 && part.anchors < all.anchors / 2, part.anchors + " of " + all.anchors);
        for (int k = 0; k < part.anchors; k++) {
            assertEquals(0, part.anchorKey[k] & 3);
            int at = part.anchorAt[k];
            assertTrue(java.util.stream.IntStream.range(0, all.anchors).anyMatch(i -> all.anchorAt[i] == at), "a kept anchor is one of all");
        }
    }

    @Test
    void withoutSplicesNoChunkNeedsTheNewCodecs() throws Exception {
        FakeRam ram = DedupTest.duplicates(true, 7);
        Path f = dir.resolve("aligned.snap");
        assertTrue(TestFiles.write(f, ram, TestFiles.options()).memory().referencedPages() > 0);
        assertTrue(codecs(Files.readAllBytes(f)).stream().allMatch(c -> c <= ChunkFormat.CODEC_ZSTD_REFS), "a 1.1 reader reads its chunks");
    }

    /** The codec of every CHUNK block, in file order. */
    static List<Integer> codecs(byte[] file) {
        return TestFiles.chunkBlocks(file).stream().map(off -> (int) file[off + 20]).toList();
    }

    // ---- forged references ----

    /** The chunk block of chunk {@code gpa}: its offset, first reference page and the offset of its (16-byte) reference list. */
    private record RefBlock(int block, int firstRefPage, int list) {}

    private static RefBlock refBlock(byte[] file, long gpa) {
        ByteBuffer b = MutationTest.le(file);
        int off = TestFiles.chunkBlock(file, gpa);
        int bitmap = ChunkFormat.bitmapBytes(b.getInt(off + 16));
        assertTrue(ChunkFormat.splices(b.get(off + 20)), "codec " + b.get(off + 20));
        int refBitmap = off + 8 + ChunkFormat.HEAD + bitmap;
        int first = 0;
        while ((file[refBitmap + first / 8] & 1 << (first % 8)) == 0) {
            first++;
        }
        return new RefBlock(off, first, refBitmap + bitmap);
    }

    private void assertForgedRefused(byte[] original, long chunkGpa, long source, long next, String expected) throws Exception {
        byte[] m = original.clone();
        RefBlock rb = refBlock(m, chunkGpa);
        ByteBuffer b = MutationTest.le(m);
        b.putLong(rb.list(), source).putLong(rb.list() + 8, next);
        MutationTest.fixFrame(m, rb.block(), b.getInt(rb.block() + 4) + 12);
        Path f = dir.resolve("forged.snap");
        Files.write(f, m);
        DedupTest.assertMalformed(f, expected);
        try (SnapshotReader r = SnapshotReader.open(f)) {
            // The lazy path refuses it too.
            try (ChunkAccess.Reader reader = r.chunkAccess().reader()) {
                int c = r.chunkAccess().chunkOf(chunkGpa);
                SnapshotFormatException lazy = assertThrows(SnapshotFormatException.class, () -> reader.read(c, ByteBuffer.allocateDirect(r.chunkAccess().chunkSize())));
                assertTrue(lazy.getMessage().contains(expected), lazy.getMessage());
            }
        }
    }

    @Test
    void forgedSplicesAreRefused() throws Exception {
        FakeRam ram = splicedCopies(true);
        Path f = dir.resolve("good.snap");
        TestFiles.write(f, ram, TestFiles.options());
        byte[] file = Files.readAllBytes(f);
        RefBlock rb = refBlock(file, 0x30000);
        long page = 0x30000 + rb.firstRefPage() * 4096L;
        long source = MutationTest.le(file).getLong(rb.list());
        long next = MutationTest.le(file).getLong(rb.list() + 8);
        assertEquals(page - (SHIFTED - FIRST), source, "the first copy's bytes, 1000 bytes into a page");
        assertEquals(source - source % 4096 + 4096, next, "going on in the next page");
        String ref = "page " + rb.firstRefPage() + " (gpa " + Layout.hex(page) + ") refers to gpa ";
        assertForgedRefused(file, 0x30000, page + 100, next, ref + Layout.hex(page + 100) + ", a later page");
        assertForgedRefused(file, 0x30000, page + 4096, next, ref + Layout.hex(page + 4096) + ", a later page");
        assertForgedRefused(file, 0x30000, source, next + 1, "going on in gpa " + Layout.hex(next + 1) + ", which is not page aligned");
        assertForgedRefused(file, 0x30000, source, page, "going on in gpa " + Layout.hex(page) + ", which is not a lower page");
        RefBlock high = refBlock(file, 0x110000);
        long highSource = MutationTest.le(file).getLong(high.list());
        assertForgedRefused(file, 0x110000, highSource, 0xe0000, "going on in gpa 0xe0000, which is outside guest RAM");
        assertForgedRefused(file, 0x30000, source - source % 4096, next, "whole, but names gpa " + Layout.hex(next) + " as its next page");
        // Bytes over a zero page (0x20000 on holds nothing), at the start and at the end of the splice.
        assertForgedRefused(file, 0x30000, 0x20010, 0x1000, "refers to gpa 0x20010 (page 0x20000), which is not a stored page of chunk 2");
        assertForgedRefused(file, 0x30000, source, 0x20000, "refers to gpa " + Layout.hex(source) + " (page 0x20000), which is not a stored page of chunk 2");
    }
}
