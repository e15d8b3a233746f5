package dev.stasis.jail;

import dev.stasis.os.LibC;
import com.sun.jna.Native;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.Map;

/**
 * The jail's root directory on the host: a new or empty directory, or one a previous jail of stasis left (it holds
 * {@value #MARKER}, a root-owned file stasis wrote). Everything else is refused: stasis runs as root while it
 * builds the jail, and a directory with other contents could hold links that lead those mounts anywhere.
 *
 * <p>The root is given to the jail's user (mode 0700), as Firecracker's jailer does, so the VM can create its
 * control socket and snapshots there. That user could therefore leave links behind for the next jail in the same
 * directory: {@link #checkNoForeignLinks} refuses any symbolic link on the way to a mount point that stasis did not
 * plan, and the marker is flock(2)ed for as long as the jailed VM lives, so two jails never share a directory.
 */
final class JailDirectory {
    static final String MARKER = ".stasis-jail";
    private static final Path JAIL_ROOT = Path.of("/");

    private JailDirectory() {}

    /** The real path of the jail {@code dir}, created if missing (its parent must exist), validated and marked. */
    static Path prepare(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS) && !Files.isSymbolicLink(dir)) {
            if (dir.toAbsolutePath().getParent() == null || !Files.isDirectory(dir.toAbsolutePath().getParent())) {
                throw new IllegalArgumentException("--jail " + dir + ": its parent directory does not exist");
            }
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("--jail " + dir + ": not a directory");
        }
        Path root = dir.toRealPath();
        if (root.getParent() == null) {
            throw new IllegalArgumentException("--jail " + dir + ": the host's root cannot be a jail");
        }
        Path marker = root.resolve(MARKER);
        boolean empty;
        try (var entries = Files.list(root)) {
            empty = entries.findAny().isEmpty();
        }
        if (empty) {
            Files.writeString(marker, "a jail of stasis: do not put other files here\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS);
        } else if (!Files.isRegularFile(marker, LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException("--jail " + dir + ": not empty, and not a jail of stasis (it has no " + MARKER
                    + "); give a new or empty directory");
        } else if (((Number) Files.getAttribute(marker, "unix:uid", LinkOption.NOFOLLOW_LINKS)).intValue() != 0) {
            throw new IllegalArgumentException("--jail " + dir + ": its " + MARKER + " is not root's (the jailed VM replaced it?); "
                    + "give a new or empty directory");
        }
        return root;
    }

    /**
     * Locks the jail for this process and whatever it execs (the descriptor is left open across exec on purpose: the
     * lock lasts until the last process of the jail has gone). Returns the descriptor.
     */
    static int lock(Path root) {
        Path marker = root.resolve(MARKER);
        int fd = LibC.open(marker.toString(), LibC.O_RDONLY | LibC.O_NOFOLLOW);
        if (fd < 0) {
            throw new IllegalArgumentException("--jail " + root + ": cannot open " + MARKER + ": " + LibC.strerror(Native.getLastError()));
        }
        if (LibC.flock(fd, LibC.LOCK_EX | LibC.LOCK_NB) != 0) {
            LibC.close(fd);
            throw new IllegalArgumentException("--jail " + root + ": in use by another jailed VM");
        }
        return fd;
    }

    /** Gives the root to the jail's user, mode 0700: the VM writes its socket and snapshots there, nobody else gets in. */
    static void handOver(Path root, int uid, int gid) throws IOException {
        Files.setAttribute(root, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(root, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx------"));
    }

    /**
     * Refuses a symbolic link anywhere on the way to a mount point the plan makes on the jail's disk (those inside
     * a tmpfs it mounts are fresh), unless it is a link the plan itself makes, with the same target.
     */
    static void checkNoForeignLinks(Path root, JailPlan plan) throws IOException {
        Map<Path, String> planned = new HashMap<>();
        for (JailStep s : plan.steps()) {
            if (s instanceof JailStep.Link l) {
                planned.put(l.dst(), l.target());
            }
        }
        for (JailStep step : plan.steps()) {
            if (insideFreshTmpfs(step, plan)) {
                continue;
            }
            Path inJail = JAIL_ROOT;
            for (Path name : step.dst()) {
                inJail = inJail.resolve(name.toString());
                Path host = root.resolve(JAIL_ROOT.relativize(inJail).toString());
                if (Files.isSymbolicLink(host) && !Files.readSymbolicLink(host).toString().equals(planned.get(inJail))) {
                    throw new IllegalArgumentException("--jail " + root + ": " + host + " is a symbolic link stasis did not make; "
                            + "give a new or empty directory");
                }
            }
        }
    }

    private static boolean insideFreshTmpfs(JailStep step, JailPlan plan) {
        return plan.steps().stream().anyMatch(s -> s instanceof JailStep.Tmpfs t && step.dst().startsWith(t.dst()) && !step.dst().equals(t.dst()));
    }
}
