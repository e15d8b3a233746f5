package dev.stasis.snapshot.container;

import java.io.IOException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** What a path names, from its {@code st_mode} without following a final symbolic link. */
public enum FileKind {
    ABSENT("nothing"), REGULAR("a regular file"), DIRECTORY("a directory"), SYMLINK("a symbolic link"), FIFO("a FIFO"),
    SOCKET("a socket"), CHARACTER_DEVICE("a character device"), BLOCK_DEVICE("a block device");

    /** For messages: "... is a character device". */
    public final String description;

    FileKind(String description) {
        this.description = description;
    }

    public static FileKind of(Path path) throws IOException {
        int mode;
        try {
            mode = (Integer) java.nio.file.Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return ABSENT;
        }
        return switch (mode & 0170000) { // S_IFMT
            case 0100000 -> REGULAR;
            case 0040000 -> DIRECTORY;
            case 0120000 -> SYMLINK;
            case 0010000 -> FIFO;
            case 0140000 -> SOCKET;
            case 0020000 -> CHARACTER_DEVICE;
            case 0060000 -> BLOCK_DEVICE;
            default -> throw new IOException(path + " has an unknown file type (mode " + Integer.toOctalString(mode) + ")");
        };
    }
}
