package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DeterminismTest {
    @TempDir
    Path dir;

    @Test
    void anyThreadCountWritesTheSameBytes() throws Exception {
        FakeRam ram = new FakeRam(FakeRam.layout(2048), true).fill(11);
        Path one = dir.resolve("one.snap");
        Path four = dir.resolve("four.snap");
        TestFiles.write(one, ram, TestFiles.options().withThreads(1));
        TestFiles.write(four, ram, TestFiles.options().withThreads(4));
        assertEquals(-1, Files.mismatch(one, four));
    }

    @Test
    void theLevelIsConfigurableAndEveryLevelReadsBack() throws Exception {
        FakeRam ram = new FakeRam(FakeRam.layout(2048), true).fill(12);
        long[] sizes = new long[3];
        int[] levels = {0, 1, 12};
        for (int i = 0; i < levels.length; i++) {
            Path f = dir.resolve("level" + levels[i] + ".snap");
            TestFiles.write(f, ram, TestFiles.options().withLevel(levels[i]));
            sizes[i] = Files.size(f);
            try (SnapshotReader r = SnapshotReader.open(f)) {
                FakeRam back = new FakeRam(ram.ranges(), true);
                r.readMemory(back, true);
                assertTrue(back.sameBytes(ram), "level " + levels[i]);
            }
        }
        assertTrue(sizes[1] < sizes[0], "zstd 1 beats no compression: " + java.util.Arrays.toString(sizes));
        assertTrue(sizes[2] <= sizes[1], "zstd 12 at least as small as 1: " + java.util.Arrays.toString(sizes));
        assertThrows(IllegalArgumentException.class, () -> TestFiles.options().withLevel(23));
    }
}
