package dev.stasis.jail;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The jail's directory: which are accepted, the marker, the lock, and links a previous jail's user could leave. */
class JailDirectoryTest {
    @TempDir
    Path dir;

    @Test
    void aNewDirectoryIsMadeAndMarkedAndAnEmptyOneMarked() throws Exception {
        Path root = JailDirectory.prepare(dir.resolve("new"));
        assertTrue(Files.isRegularFile(root.resolve(JailDirectory.MARKER)));
        Path empty = Files.createDirectory(dir.resolve("empty"));
        JailDirectory.prepare(empty);
        assertTrue(Files.isRegularFile(empty.resolve(JailDirectory.MARKER)));
        assertEquals(root, JailDirectory.prepare(root), "a previous jail is accepted again");
    }

    @Test
    void aFileADirectoryWithOtherFilesAndAMissingParentAreRefusedByName() throws Exception {
        Path file = Files.writeString(dir.resolve("file"), "x");
        assertEquals("--jail " + file + ": not a directory", refusal(file));
        Path full = Files.createDirectory(dir.resolve("full"));
        Files.writeString(full.resolve("data"), "x");
        assertEquals("--jail " + full + ": not empty, and not a jail of stasis (it has no .stasis-jail); give a new or empty directory", refusal(full));
        Path orphan = dir.resolve("no/such");
        assertEquals("--jail " + orphan + ": its parent directory does not exist", refusal(orphan));
        assertTrue(refusal(Path.of("/")).contains("cannot be a jail"), refusal(Path.of("/")));
    }

    @Test
    void aMarkerTheJailsUserReplacedIsRefused() throws Exception {
        if (!"root".equals(System.getProperty("user.name"))) {
            fail("JailDirectoryTest needs root to give the marker to another user: run the suite as root, as .ci/run does");
        }
        Path root = JailDirectory.prepare(dir.resolve("jail"));
        Files.setAttribute(root.resolve(JailDirectory.MARKER), "unix:uid", 65534, LinkOption.NOFOLLOW_LINKS);
        assertTrue(refusal(root).contains("is not root's"), refusal(root));
    }

    @Test
    void aJailIsLockedForOneVmAtATime() throws Exception {
        Path root = JailDirectory.prepare(dir.resolve("jail"));
        int fd = JailDirectory.lock(root);
        try {
            // flock(2) locks belong to the open file: a second open in the same process conflicts as another process would
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JailDirectory.lock(root));
            assertEquals("--jail " + root + ": in use by another jailed VM", e.getMessage());
        } finally {
            dev.stasis.os.LibC.close(fd);
        }
        dev.stasis.os.LibC.close(JailDirectory.lock(root));
    }

    @Test
    void aLinkOnTheWayToAMountPointIsRefusedUnlessThePlanMakesIt() throws Exception {
        Path root = JailDirectory.prepare(dir.resolve("jail"));
        Path guest = Files.writeString(dir.resolve("guest.elf"), "x");
        JailPlan plan = JailPlan.of(65534, 65534, Path.of(System.getProperty("java.home")).toRealPath(), List.of(), List.of(guest.toString()));
        JailDirectory.checkNoForeignLinks(root, plan);
        for (JailStep s : plan.steps()) {
            if (s instanceof JailStep.Link l) {
                Files.createSymbolicLink(root.resolve(l.dst().toString().substring(1)), Path.of(l.target()));
            }
        }
        JailDirectory.checkNoForeignLinks(root, plan); // its own links, as a previous jail left them
        Files.createSymbolicLink(root.resolve("usr"), Path.of("/etc"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JailDirectory.checkNoForeignLinks(root, plan));
        assertEquals("--jail " + root + ": " + root.resolve("usr") + " is a symbolic link stasis did not make; give a new or empty directory", e.getMessage());
    }

    @Test
    void aMissingToolIsNamedWithItsPackage() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Jailer.tool("stasis-no-such-tool", "util-linux"));
        assertEquals("--jail needs stasis-no-such-tool, not found in /usr/sbin:/usr/bin:/sbin:/bin (Debian/Ubuntu: apt-get install util-linux)", e.getMessage());
        assertTrue(Files.isExecutable(Jailer.tool("unshare", "util-linux")));
    }

    private static String refusal(Path jail) {
        return assertThrows(IllegalArgumentException.class, () -> JailDirectory.prepare(jail)).getMessage();
    }
}
