package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RoundTripTest {
    @TempDir
    Path dir;

    @Test
    void sectionsManifestAndMemoryComeBackEqual() throws Exception {
        Path file = dir.resolve("vm.snap");
        FakeRam ram = new FakeRam(FakeRam.layout(1024), true).fill(1);
        WriteReport report = TestFiles.write(file, ram, TestFiles.options());
        assertEquals(Files.size(file), report.bytes());
        assertTrue(report.memory().zeroPages() > 0 && report.memory().storedPages() > 0, report.toString());

        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertEquals(FormatVersion.CURRENT, r.formatVersion());
            assertEquals(TestFiles.MANIFEST, r.manifest());
            assertEquals(List.of("everything#0", "everything#1", "dev#0"), r.sections().stream().map(SectionInfo::label).toList());
            assertEquals(States.EVERYTHING.schema(), r.sections().get(0).schema());
            assertEquals(3, r.sections().get(0).version());
            for (int i = 0; i < 2; i++) {
                assertEquals(States.EVERYTHING.save(States.sample(i)), r.record("everything", i));
                States.Everything back = r.load(States.EVERYTHING, i);
                assertEquals(States.EVERYTHING.save(States.sample(i)), States.EVERYTHING.save(back));
            }
            assertEquals(new States.DevV2(3, 12), r.load(States.DEV_V2, 0));
            assertEquals(ram.ranges(), r.memoryMap().ranges());

            FakeRam zeroed = new FakeRam(ram.ranges(), true);
            MemoryStats stats = r.readMemory(zeroed, true);
            assertTrue(zeroed.sameBytes(ram));
            assertEquals(report.memory().storedPages(), stats.storedPages());

            // A sink that is not zeroed (and on the heap) gets its zero pages written.
            FakeRam dirty = new FakeRam(ram.ranges(), false).garbage((byte) 0x5a);
            r.readMemory(dirty, false, 3);
            assertTrue(dirty.sameBytes(ram));
            assertEquals(List.of(), r.verify());
        }
    }

    @Test
    void heapRamAndEveryChunkFullOrEmptyRoundTrip() throws Exception {
        Path file = dir.resolve("heap.snap");
        List<RamRange> ranges = List.of(new RamRange(0x1_0000_0000L, 256 << 10), new RamRange(0x2_0000_0000L, 128 << 10));
        FakeRam ram = new FakeRam(ranges, false);
        java.util.Random rnd = new java.util.Random(5);
        ByteBufferFill.random(ram.window(0x1_0000_0000L, 128 << 10), rnd); // first chunk: every page stored
        try (SnapshotWriter w = SnapshotWriter.create(file, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST);
            w.memory(ram);
            w.commit();
        }
        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertEquals(List.of(), r.sections());
            FakeRam back = new FakeRam(ranges, true);
            r.readMemory(back, true);
            assertTrue(back.sameBytes(ram));
        }
    }

    @Test
    void knownZeroRangesAreNotRead() throws Exception {
        Path file = dir.resolve("hint.snap");
        FakeRam ram = new FakeRam(List.of(new RamRange(0, 1 << 20)), true) {
            @Override
            public boolean knownZero(long gpa, long length) {
                return gpa >= 512 << 10;
            }

            @Override
            public java.nio.ByteBuffer window(long gpa, int length) {
                assertTrue(gpa < 512 << 10, "read a known-zero chunk at " + gpa);
                return super.window(gpa, length);
            }
        };
        ram.fill(3);
        try (SnapshotWriter w = SnapshotWriter.create(file, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST);
            MemoryStats s = w.memory(ram);
            assertTrue(s.zeroPages() >= 128);
            w.commit();
        }
        try (SnapshotReader r = SnapshotReader.open(file)) {
            FakeRam back = new FakeRam(ram.ranges(), true);
            r.readMemory(back, true);
            assertEquals(-1, back.window(0, 512 << 10).mismatch(ram.window(0, 512 << 10)));
            assertEquals(-1, back.window(512 << 10, 512 << 10).mismatch(java.nio.ByteBuffer.allocate(512 << 10)));
        }
    }

    @Test
    void genericSectionsAndRecordsThatDoNotMatchTheirSchemaAreRefusedByName() throws Exception {
        StructSchema schema = new StructSchema(List.of(FieldSchema.of("a", FieldType.U8), FieldSchema.of("b", FieldType.STRING)));
        try (SnapshotWriter w = SnapshotWriter.create(dir.resolve("x.snap"), TestFiles.options())) {
            w.section("gen", 0, 1, schema, StateRecord.builder().putLong("a", 7).put("b", "ok").build());
            var e = assertThrows(SnapshotFormatException.class,
                    () -> w.section("gen", 1, 1, schema, StateRecord.builder().putLong("a", 256).put("b", "x").build()));
            assertTrue(e.getMessage().contains("gen#1.a = 256 does not fit U8"), e.getMessage());
            e = assertThrows(SnapshotFormatException.class, () -> w.section("gen", 2, 1, schema, StateRecord.builder().putLong("a", 1).build()));
            assertTrue(e.getMessage().contains("gen#2.b is missing"), e.getMessage());
            e = assertThrows(SnapshotFormatException.class,
                    () -> w.section("gen", 0, 1, schema, StateRecord.builder().putLong("a", 7).put("b", "ok").build()));
            assertTrue(e.getMessage().contains("written twice"), e.getMessage());
            assertThrows(SnapshotFormatException.class, () -> w.section("bad name", 0, 1, schema, StateRecord.builder().build()));
            assertThrows(IllegalStateException.class, w::commit); // no manifest
        }
    }
}
