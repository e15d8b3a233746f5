package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A snapshot is read at random offsets: a pipe (`restore <(cat file)`) or a directory is refused by what it is. */
class NotARegularFileTest {
    @TempDir
    Path dir;

    @Test
    void aPipeIsRefusedByWhatItIs() throws Exception {
        Path fifo = dir.resolve("fifo");
        Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start();
        assertEquals(0, mkfifo.waitFor());
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class, () -> SnapshotReader.open(fifo));
        assertTrue(e.getMessage().contains("is a pipe, socket or device") && e.getMessage().contains("must be a regular file"), e.getMessage());
    }

    @Test
    void aDirectoryIsRefusedByWhatItIs() {
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class, () -> SnapshotReader.open(dir));
        assertTrue(e.getMessage().startsWith(dir + " is a directory"), e.getMessage());
        assertTrue(Files.isDirectory(dir));
    }
}
