package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicWriteTest {
    @TempDir
    Path dir;

    private Path existingTarget() throws IOException {
        Path target = dir.resolve("vm.snap");
        TestFiles.write(target, new FakeRam(FakeRam.layout(256), true).fill(1), TestFiles.options());
        return target;
    }

    private List<Path> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.toList();
        }
    }

    @Test
    void closingWithoutCommitLeavesTheTargetAndNoTemporaryFile() throws Exception {
        Path target = existingTarget();
        byte[] before = Files.readAllBytes(target);
        try (SnapshotWriter w = SnapshotWriter.create(target, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST).section("dev", 0, States.DEV_V1, new States.DevV1(1));
            w.memory(new FakeRam(FakeRam.layout(64), true).fill(9));
            assertEquals(2, files().size(), "the temporary file sits beside the target while writing");
        }
        assertArrayEquals(before, Files.readAllBytes(target));
        assertEquals(List.of(target), files());
    }

    @Test
    void aFailingMemorySourceLeavesTheTargetUntouched() throws Exception {
        Path target = existingTarget();
        byte[] before = Files.readAllBytes(target);
        FakeRam ram = new FakeRam(FakeRam.layout(1024), true).fill(2);
        ram.failGpa = 0x1_0000_0000L;
        ram.failAt = new IllegalStateException("simulated crash reading guest RAM");
        try (SnapshotWriter w = SnapshotWriter.create(target, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST);
            var e = assertThrows(IllegalStateException.class, () -> w.memory(ram));
            assertEquals("simulated crash reading guest RAM", e.getMessage());
            assertThrows(IllegalStateException.class, w::commit, "a failed writer cannot commit");
        }
        assertArrayEquals(before, Files.readAllBytes(target));
        assertEquals(List.of(target), files());
        try (SnapshotReader r = SnapshotReader.open(target)) {
            assertEquals(List.of(), r.verify());
        }
    }

    @Test
    void commitReplacesTheTarget() throws Exception {
        Path target = existingTarget();
        try (SnapshotWriter w = SnapshotWriter.create(target, TestFiles.options())) {
            w.manifest(TestFiles.MANIFEST).section("dev", 0, States.DEV_V1, new States.DevV1(7));
            w.commit();
        }
        assertEquals(List.of(target), files());
        try (SnapshotReader r = SnapshotReader.open(target)) {
            assertEquals(1, r.sections().size());
            assertNull(r.memoryMap());
        }
    }
}
