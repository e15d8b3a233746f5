package dev.stasis.snapshot.container;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/** Writes the standard test snapshot: several sections of every field type, and memory. */
final class TestFiles {
    static final Manifest MANIFEST = new Manifest(Instant.parse("2026-11-22T17:58:47.123Z"), "0.1.0-test",
            new HostIdentity("testhost", "6.1.0-test", "GenuineIntel", "Test CPU @ 2.00GHz"), props());

    private TestFiles() {}

    private static Map<String, String> props() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("vcpus", "2");
        m.put("memory", "4194304");
        m.put("tsc_khz", "2000000");
        return m;
    }

    static WriterOptions options() {
        return new WriterOptions(1, 2, 64 << 10);
    }

    static WriteReport write(Path target, FakeRam ram, WriterOptions options) throws IOException {
        try (SnapshotWriter w = SnapshotWriter.create(target, options)) {
            w.manifest(MANIFEST);
            w.section("everything", 0, States.EVERYTHING, States.sample(0));
            w.section("everything", 1, States.EVERYTHING, States.sample(1));
            w.section("dev", 0, States.DEV_V2, new States.DevV2(3, 12));
            if (ram != null) {
                w.memory(ram);
            }
            return w.commit();
        }
    }

    /** The file offset of every CHUNK block of {@code file}, in index order. */
    static java.util.List<Integer> chunkBlocks(byte[] file) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long index = b.getLong(file.length - 32);
        int count = b.getInt((int) index + 8);
        java.util.List<Integer> out = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            int at = (int) index + 12 + i * 16;
            if (b.getInt(at) == BlockType.CHUNK.code) {
                out.add((int) b.getLong(at + 8));
            }
        }
        return out;
    }

    /** The file offset of the CHUNK block of the chunk at {@code gpa}. */
    static int chunkBlock(byte[] file, long gpa) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(file).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        return chunkBlocks(file).stream().filter(off -> b.getLong(off + 8) == gpa).findFirst()
                .orElseThrow(() -> new AssertionError("no chunk at " + Long.toHexString(gpa)));
    }
}
