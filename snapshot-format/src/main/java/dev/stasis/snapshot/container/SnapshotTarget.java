package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;

/**
 * Where a snapshot may go. A snapshot is a new regular file renamed over its name, so it may only create a
 * file or replace a regular one: a device node, FIFO, socket, directory or symbolic link there is refused by
 * name (a rename would silently turn {@code /dev/full} into a file). An existing file must be writable by
 * this process and not read-only: rename(2) needs no write permission on the file it replaces, and root may
 * write anything, so a 0444 file is refused by its mode, not left to the kernel. The VM's control socket
 * serves only the VM's own user and root, so this process's rights are the caller's, or fewer.
 *
 * <p>Checked when the writer is created and again just before the rename; the temporary file lives in the
 * target's directory, so the rename stays atomic.
 */
public final class SnapshotTarget {
    private SnapshotTarget() {}

    /** The target's directory, after refusing a target a snapshot must not create or replace. */
    public static Path check(Path target) throws IOException {
        Path parent = target.getParent();
        if (parent == null) {
            throw notRegular(target, FileKind.DIRECTORY);
        }
        if (!Files.isDirectory(parent)) { // through links: /tmp may be one
            FileKind dir = FileKind.of(parent);
            throw refused(target, dir == FileKind.ABSENT ? parent + " does not exist" : parent + " is " + dir.description + ", not a directory");
        }
        FileKind kind = FileKind.of(target);
        switch (kind) {
            case ABSENT -> { }
            case REGULAR -> {
                int mode = (Integer) Files.getAttribute(target, "unix:mode", LinkOption.NOFOLLOW_LINKS);
                if ((mode & 0222) == 0 || !Files.isWritable(target)) {
                    throw refused(target, "it exists and may not be written (mode " + String.format("%04o", mode & 07777) + ")");
                }
            }
            default -> throw notRegular(target, kind);
        }
        if (!Files.isWritable(parent)) {
            throw refused(target, "its directory " + parent + " is not writable");
        }
        return parent;
    }

    private static SnapshotFormatException notRegular(Path target, FileKind kind) {
        return refused(target, "it is " + kind.description + "; a snapshot only creates or replaces a regular file");
    }

    private static SnapshotFormatException refused(Path target, String why) {
        return new SnapshotFormatException(Kind.INVALID_INPUT, "cannot write a snapshot to " + target + ": " + why);
    }
}
