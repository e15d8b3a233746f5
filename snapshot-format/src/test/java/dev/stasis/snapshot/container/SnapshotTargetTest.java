package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A snapshot only creates or replaces a regular file it may write: every other kind of file at the target is
 * refused by name and left exactly as it was (same kind, same inode, same mode), in a random order each run.
 */
class SnapshotTargetTest {
    @TempDir
    Path dir;

    /** A target and what the refusal must say. */
    private record Hostile(Path path, String says) {}

    @Test
    void everyKindOfSpecialFileIsRefusedByNameAndLeftAlone() throws Exception {
        List<Hostile> targets = new ArrayList<>();
        targets.add(new Hostile(Path.of("/dev/full"), "is a character device"));
        targets.add(new Hostile(Path.of("/dev/null"), "is a character device"));
        targets.add(new Hostile(Path.of("/"), "is a directory"));
        Path fifo = dir.resolve("fifo");
        assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor());
        targets.add(new Hostile(fifo, "is a FIFO"));
        Path sub = Files.createDirectory(dir.resolve("sub"));
        targets.add(new Hostile(sub, "is a directory"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), Files.writeString(dir.resolve("real"), "kept"));
        targets.add(new Hostile(link, "is a symbolic link"));
        Path readOnly = Files.writeString(dir.resolve("ro"), "kept");
        Files.setPosixFilePermissions(readOnly, PosixFilePermissions.fromString("r--r--r--"));
        targets.add(new Hostile(readOnly, "may not be written (mode 0444)"));
        targets.add(new Hostile(dir.resolve("missing/a.stasis"), "does not exist"));
        targets.add(new Hostile(dir.resolve("real/a.stasis"), "is a regular file, not a directory"));
        Path sock = dir.resolve("sock");
        try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            s.bind(UnixDomainSocketAddress.of(sock));
            targets.add(new Hostile(sock, "is a socket"));
            long seed = System.nanoTime();
            Collections.shuffle(targets, new Random(seed));
            for (Hostile h : targets) {
                Object before = identity(h.path());
                var e = assertThrows(SnapshotFormatException.class, () -> TestFiles.write(h.path(), null, TestFiles.options()), h.toString());
                assertTrue(e.getMessage().startsWith("cannot write a snapshot to " + h.path()) && e.getMessage().contains(h.says()),
                        "seed " + seed + ": " + e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
                assertEquals(before, identity(h.path()), "untouched: " + h.path());
            }
        }
        assertEquals("kept", Files.readString(dir.resolve("real")), "a link's target is not written through");
        try (var left = Files.list(dir)) {
            assertTrue(left.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void aWritableRegularFileIsReplacedAndANewOneCreated() throws Exception {
        Path existing = Files.writeString(dir.resolve("old.stasis"), "old");
        TestFiles.write(existing, null, TestFiles.options());
        assertTrue(Files.size(existing) > 3);
        Path fresh = dir.resolve("new.stasis");
        TestFiles.write(fresh, null, TestFiles.options());
        assertTrue(Files.isRegularFile(fresh, LinkOption.NOFOLLOW_LINKS));
    }

    /** Kind, inode and mode: what a rename over the path would change. */
    private static Object identity(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
            return "absent";
        }
        return List.of(FileKind.of(p), Files.getAttribute(p, "unix:ino", LinkOption.NOFOLLOW_LINKS),
                Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS));
    }
}
