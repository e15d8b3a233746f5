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
import java.util.zip.CRC32C;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile input: a real snapshot (sections and a few MiB of memory) mutated many hundreds of ways. Every
 * mutation that changes checked bytes must be refused with a one-line {@link SnapshotFormatException},
 * by open or by the full read, and verify() must agree; nothing else may escape, not even an Error.
 * Mutations that keep CRCs valid ("forged") test the structural checks behind the checksums.
 */
class MutationTest {
    @TempDir
    static Path dir;
    static byte[] original;
    static List<Block> blocks;
    static long indexOffset;

    record Block(int type, long offset, int length) {}

    @BeforeAll
    static void writeRealSnapshot() throws Exception {
        Path f = dir.resolve("original.snap");
        // fill() repeats text and near-zero pages: the file has chunks with page references (format 1.1) and without.
        WriteReport report = TestFiles.write(f, new FakeRam(FakeRam.layout(1024), true).fill(42), TestFiles.options());
        assertTrue(report.memory().referencedPages() > 20, report.memory().toString());
        original = Files.readAllBytes(f);
        ByteBuffer b = le(original);
        indexOffset = b.getLong(original.length - 32);
        int count = b.getInt((int) indexOffset + 8);
        blocks = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int at = (int) indexOffset + 12 + i * 16;
            blocks.add(new Block(b.getInt(at), b.getLong(at + 8), b.getInt(at + 4)));
        }
        assertNull(refusal(original, "the original"), "the original file must be accepted");
    }

    @Test
    void everySingleBitFlipIsRefused() {
        Random rnd = new Random(1);
        for (int i = 0; i < 500; i++) {
            byte[] m = original.clone();
            int at = i < 64 ? i * 8 % original.length : i < 96 ? original.length - 1 - (i - 64) : rnd.nextInt(m.length);
            m[at] ^= (byte) (1 << rnd.nextInt(8));
            assertRefused(m, "bit flip at offset " + at);
        }
    }

    @Test
    void everyTruncationIsRefused() {
        Random rnd = new Random(2);
        List<Integer> lengths = new ArrayList<>();
        for (int n = 0; n <= 70; n++) {
            lengths.add(n);
        }
        for (int n = original.length - 45; n < original.length; n++) {
            lengths.add(n);
        }
        for (int i = 0; i < 120; i++) {
            lengths.add(rnd.nextInt(original.length));
        }
        for (int n : lengths) {
            SnapshotFormatException e = assertRefused(java.util.Arrays.copyOf(original, n), "truncation to " + n + " bytes");
            if (n > 32) {
                assertEquals(SnapshotFormatException.Kind.TRUNCATED, e.kind(), e.getMessage());
            }
        }
    }

    @Test
    void wrongMagicAndVersions() {
        for (int i = 0; i < 8; i++) {
            byte[] m = original.clone();
            m[i] ^= 0x20;
            assertEquals(SnapshotFormatException.Kind.BAD_MAGIC, assertRefused(m, "magic byte " + i).kind());
        }
        for (int major : new int[] {2, 7, 0xffff, 0}) {
            for (boolean fixCrc : new boolean[] {true, false}) {
                byte[] m = original.clone();
                le(m).putShort(8, (short) major).putShort(10, (short) 0);
                if (fixCrc) {
                    le(m).putInt(28, crc(m, 0, 28));
                }
                SnapshotFormatException e = assertRefused(m, "major version " + major);
                assertEquals(SnapshotFormatException.Kind.UNSUPPORTED_VERSION, e.kind(), e.getMessage());
                if (major == 2) {
                    assertTrue(e.getMessage().contains("format version 2.0 is newer than this build reads (1.x)"), e.getMessage());
                }
            }
        }
        // A newer minor is read.
        byte[] m = original.clone();
        le(m).putShort(10, (short) 9);
        le(m).putInt(28, crc(m, 0, 28));
        assertNull(refusal(m, "minor 9"), "a newer minor version must be accepted");
    }

    @Test
    void forgedTrailerOffsetsAreRefused() {
        long[] values = {1, -1, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 40, 16, -16, 12, -12, 32};
        for (int field = 0; field < 2; field++) {
            for (long v : field == 0 ? values : new long[] {0, 1, -1, Long.MIN_VALUE, Long.MAX_VALUE, 1L << 40, 12, 44}) {
                byte[] m = original.clone();
                ByteBuffer b = le(m);
                int at = m.length - 32 + field * 8;
                b.putLong(at, field == 0 && Math.abs(v) < 64 ? b.getLong(at) + v : v);
                b.putInt(m.length - 12, crc(m, m.length - 32, 20));
                assertRefused(m, "trailer field " + field + " = " + v);
            }
        }
    }

    @Test
    void forgedIndexEntriesAreRefused() {
        Random rnd = new Random(3);
        long[] huge = {-1, Long.MIN_VALUE, Long.MAX_VALUE, 0xffff_ffffL, 1L << 33, 0};
        for (int i = 0; i < 250; i++) {
            byte[] m = original.clone();
            ByteBuffer b = le(m);
            int e = rnd.nextInt(blocks.size());
            int at = (int) indexOffset + 12 + e * 16;
            String what;
            switch (rnd.nextInt(4)) {
                case 0 -> { long v = huge[rnd.nextInt(huge.length)]; b.putLong(at + 8, v); what = "offset " + v; }
                case 1 -> { int v = (int) huge[rnd.nextInt(huge.length)]; b.putInt(at + 4, v); what = "length " + v; }
                case 2 -> { int d = 1 + rnd.nextInt(64); b.putInt(at + 4, b.getInt(at + 4) + (rnd.nextBoolean() ? d : -d)); what = "length +-" + d; }
                default -> { int t = rnd.nextInt(8); if (t == b.getInt(at)) { t = 9; } b.putInt(at, t); what = "type " + t; }
            }
            fixFrame(m, indexOffset, m.length - 32 - (int) indexOffset);
            if (what.startsWith("type") && !List.of(1, 2, 3, 4, 5, 0).contains(b.getInt(at))) {
                // An unknown type is skipped by design (newer minor); removing a known block must still be refused.
                byte[] mm = m;
                int type = blocks.get(e).type();
                if (type == BlockType.SECTION.code || type == BlockType.MANIFEST.code || type == BlockType.CHUNK.code || type == BlockType.MEMORY_MAP.code) {
                    assertRefused(mm, "index entry " + e + " " + what);
                }
                continue;
            }
            assertRefused(m, "index entry " + e + " " + what);
        }
    }

    @Test
    void forgedFrameLengthsAndChunkHeadersAreRefused() {
        Random rnd = new Random(4);
        for (int i = 0; i < 150; i++) {
            byte[] m = original.clone();
            ByteBuffer b = le(m);
            Block blk = blocks.get(rnd.nextInt(blocks.size()));
            int at = (int) blk.offset();
            String what;
            int choice = blk.type() == BlockType.CHUNK.code ? rnd.nextInt(4) : 0;
            switch (choice) {
                case 0 -> { int v = rnd.nextBoolean() ? -1 - rnd.nextInt(3) : b.getInt(at + 4) + 1 + rnd.nextInt(1 << 20); b.putInt(at + 4, v); what = "payload length " + v; }
                case 1 -> { b.putLong(at + 8, b.getLong(at + 8) + 4096L * (1 + rnd.nextInt(4))); what = "chunk gpa"; }
                case 2 -> { b.putInt(at + 16, rnd.nextBoolean() ? -1 : b.getInt(at + 16) - 1); what = "chunk page count"; }
                default -> {
                    int codec = b.get(at + 20);
                    int v = 2 + rnd.nextInt(200);
                    if (v == codec || ChunkFormat.hasRefs(codec) && ChunkFormat.hasRefs(v) && ChunkFormat.zstd(codec) == ChunkFormat.zstd(v)) {
                        v = 6 + rnd.nextInt(100); // not 3 for 5: a page-aligned source is one at any offset too, so that would be the same chunk
                    }
                    b.put(at + 20, (byte) v);
                    what = "chunk codec " + codec + " -> " + b.get(at + 20);
                }
            }
            fixFrame(m, blk.offset(), blk.length());
            assertRefused(m, "block at " + at + " " + what);
        }
    }

    @Test
    void forgedMemoryMapsAreRefused() {
        Block map = blocks.stream().filter(x -> x.type() == BlockType.MEMORY_MAP.code).findFirst().orElseThrow();
        int p = (int) map.offset() + 8; // payload: page u32, chunk u32, count varint (1 byte), ranges
        long[][] edits = {
                {0, 8192}, {4, 1 << 20}, {4, 4096}, {4, 3 << 16}, {8, 2}, {8, 4}, {8, 127},
                {9, 4096}, {17, -4096}, {17, 4096}, {17, 1 << 12 | 1}, {9, 0x1000_0000}, {25, 0}, {41, 1L << 52}, {41, -1}, {33, 1 << 20}, {33, -4096}};
        for (long[] e : edits) {
            byte[] m = original.clone();
            ByteBuffer b = le(m);
            int at = p + (int) e[0];
            if (e[0] == 8) {
                m[at] = (byte) e[1];
            } else if (e[0] < 8) {
                b.putInt(at, (int) e[1]);
            } else {
                b.putLong(at, e[0] == 17 || e[0] == 33 ? b.getLong(at) + e[1] : e[1]);
            }
            fixFrame(m, map.offset(), map.length());
            assertRefused(m, "memory map edit " + java.util.Arrays.toString(e));
        }
    }

    @Test
    void forgedSectionPayloadsNeverEscapeAsAnotherException() {
        Random rnd = new Random(5);
        List<Block> sections = blocks.stream().filter(x -> x.type() == BlockType.SECTION.code || x.type() == BlockType.MANIFEST.code).toList();
        int refused = 0;
        for (int i = 0; i < 300; i++) {
            byte[] m = original.clone();
            Block s = sections.get(rnd.nextInt(sections.size()));
            int payload = s.length() - 12;
            for (int k = 0; k < 1 + rnd.nextInt(3); k++) {
                int at = (int) s.offset() + 8 + rnd.nextInt(payload);
                m[at] = switch (rnd.nextInt(3)) {
                    case 0 -> (byte) 0xff;
                    case 1 -> (byte) rnd.nextInt(256);
                    default -> (byte) (m[at] ^ 1 << rnd.nextInt(8));
                };
            }
            fixFrame(m, s.offset(), s.length());
            refused += refusal(m, "forged section bytes, try " + i) != null ? 1 : 0;
        }
        assertTrue(refused > 100, "most forged section payloads are malformed; refused " + refused);
    }

    // ---- helpers ----

    private static SnapshotFormatException assertRefused(byte[] m, String what) {
        SnapshotFormatException e = refusal(m, what);
        assertNotNull(e, what + ": accepted");
        return e;
    }

    /** The refusal of a mutated file, or null when it reads completely; fails on any other throwable. */
    private static SnapshotFormatException refusal(byte[] bytes, String what) {
        Path f = dir.resolve("mutant.snap");
        try {
            Files.write(f, bytes);
            SnapshotFormatException e = fullRead(f);
            List<Problem> problems = SnapshotReader.verify(f);
            assertEquals(e == null, problems.isEmpty(), what + ": full read says " + e + ", verify says " + problems);
            for (Problem p : problems) {
                assertFalse(p.message().contains("\n"), p.message());
            }
            if (e != null) {
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
            return e;
        } catch (Throwable t) {
            throw new AssertionError(what + ": escaped as " + t, t);
        }
    }

    private static SnapshotFormatException fullRead(Path f) throws Exception {
        try (SnapshotReader r = SnapshotReader.open(f)) {
            r.manifest();
            for (SectionInfo s : r.sections()) {
                r.record(s.name(), s.instance());
            }
            if (r.memoryMap() != null) {
                r.readMemory(new ScratchSink(), false, 2);
            }
            return null;
        } catch (SnapshotFormatException e) {
            return e;
        }
    }

    /** A sink that accepts any window and keeps nothing (a mutated map may claim much memory). */
    static final class ScratchSink implements GuestRamSink {
        @Override
        public ByteBuffer window(long gpa, int length) {
            return ByteBuffer.allocateDirect(length);
        }
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    static void fixFrame(byte[] m, long offset, int length) {
        le(m).putInt((int) offset + length - 4, crc(m, (int) offset, length - 4));
    }
}
