package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SchemaEvolutionTest {
    @TempDir
    Path dir;

    @Test
    void aVersion1FileLoadsIntoVersion2WithTheNewFieldAtItsDefault() throws Exception {
        Path file = dir.resolve("v1.snap");
        try (SnapshotWriter w = SnapshotWriter.create(file, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST).section("dev", 0, States.DEV_V1, new States.DevV1(5));
            w.commit();
        }
        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertEquals(1, r.sections().get(0).version());
            assertEquals(new States.DevV2(5, 8), r.load(States.DEV_V2, 0));
        }
    }

    @Test
    void aVersion2FileIsRefusedByAVersion1BuildNamingSectionAndVersions() throws Exception {
        Path file = dir.resolve("v2.snap");
        try (SnapshotWriter w = SnapshotWriter.create(file, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST).section("dev", 0, States.DEV_V2, new States.DevV2(5, 9));
            w.commit();
        }
        try (SnapshotReader r = SnapshotReader.open(file)) {
            var e = assertThrows(SnapshotFormatException.class, () -> r.load(States.DEV_V1, 0));
            assertEquals(SnapshotFormatException.Kind.INCOMPATIBLE_STATE, e.kind());
            assertTrue(e.getMessage().contains("section dev#0"), e.getMessage());
            assertTrue(e.getMessage().contains("version 2 was written by a newer stasis; this build reads versions 1 to 1"), e.getMessage());
            // The generic reader still shows it, new field and all.
            assertEquals(9L, r.record("dev", 0).getLong("trigger"));
            var missing = assertThrows(SnapshotFormatException.class, () -> r.load(States.DEV_V2, 1));
            assertEquals(SnapshotFormatException.Kind.NOT_FOUND, missing.kind());
        }
    }
}
