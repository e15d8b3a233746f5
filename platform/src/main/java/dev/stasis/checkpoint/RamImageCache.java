package dev.stasis.checkpoint;

import dev.stasis.os.LibC;
import dev.stasis.snapshot.container.ChunkAccess;
import dev.stasis.snapshot.container.FileStamp;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SnapshotReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Decoded RAM of snapshot files, made once and mapped by every restore of the same file: the golden-image case,
 * where many guests start from one file (Firecracker maps its raw memory file the same way). An image is the
 * guest's RAM ranges back to back, zero pages left as holes, named by the SHA-256 of the snapshot file's content, so
 * copies of a file share one image and a changed file never meets an old one (the digest itself is kept under the
 * file's {@link FileStamp}, so a golden file is hashed once, not on every restore). Guests map it copy-on-write
 * ({@link dev.stasis.memory.RamBacking.Image}): the pages they only read stay the page cache's, one copy for all;
 * host memory grows with what each guest writes.
 *
 * <p>An image's bytes become guest memory, so the directory must be this user's alone: it is created 0700, and one
 * that another user owns, or that group or others may write, is refused (anyone who could write there could plant
 * memory for the next guest). Images are written to a temporary file, fsynced, made read-only and renamed into
 * place; a mapped image is never written again (a private mapping would show it).
 */
public final class RamImageCache {
    private static final Set<PosixFilePermission> PRIVATE_DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> READ_ONLY = PosixFilePermissions.fromString("r--------");

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");
    private static final int PAGE = 4096;
    private final Path dir;

    private RamImageCache(Path dir) {
        this.dir = dir;
    }

    /** The cache in {@code dir}, created (0700) if missing; refused if it is not this user's alone. */
    public static RamImageCache at(Path dir) throws IOException {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectories(dir.toAbsolutePath().getParent());
            try {
                Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE_DIR));
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                // made meanwhile by another restore: checked below like any other
            }
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            throw new IOException("RAM image cache " + dir + " is not a directory");
        }
        int owner = (Integer) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        int me = LibC.geteuid();
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(dir, LinkOption.NOFOLLOW_LINKS);
        if (owner != me || mode.contains(PosixFilePermission.GROUP_WRITE) || mode.contains(PosixFilePermission.OTHERS_WRITE)) {
            throw new IOException("RAM image cache " + dir + " must be a directory of this user (uid " + me + ") that no one else may write"
                    + " (it is uid " + owner + ", mode " + PosixFilePermissions.toString(mode) + "): images in it become guest memory");
        }
        return new RamImageCache(dir);
    }

    /** Whether {@link #imageOf} found the image there, or made it. */
    public record Image(Path file, boolean made) {}

    /**
     * The image of the RAM in the file {@code reader} reads: the one in the cache, or one decoded now. Restores that
     * ask at the same time may each decode it; identical, the last rename wins, and mapped images stay as they are.
     * {@code ramBytes} is the guest's RAM size, which the image must have.
     */
    public Image imageOf(SnapshotReader reader, long ramBytes) throws IOException {
        Path image = dir.resolve(digestOf(reader) + ".ram");
        if (Files.isRegularFile(image, LinkOption.NOFOLLOW_LINKS) && Files.size(image) == ramBytes) {
            return new Image(image, false);
        }
        sweepAbandoned();
        Path temp = Files.createTempFile(dir, ".ram-" + ProcessHandle.current().pid() + "-", ".tmp");
        try {
            write(reader, temp, ramBytes);
            publish(temp, image);
            return new Image(image, true);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    /**
     * The SHA-256 of the reader's file, in hex. Hashing the whole file costs about a millisecond per megabyte, on
     * every restore of a golden file; so the digest is kept here too, named by the file's {@link FileStamp}, and a
     * restore of a file with the same stamp reads it. A file written or replaced since has another stamp and is
     * hashed anew; one whose stamp could not be told for certain, or is not yet {@link FileStamp#settled}, is hashed
     * and its digest not kept.
     */
    private String digestOf(SnapshotReader reader) throws IOException {
        Optional<FileStamp> stamp = reader.stamp();
        Path known = stamp.map(s -> dir.resolve(s.fileName() + ".sha256")).orElse(null);
        if (known != null && Files.isRegularFile(known, LinkOption.NOFOLLOW_LINKS)) {
            String digest = Files.readString(known, StandardCharsets.US_ASCII);
            if (SHA256_HEX.matcher(digest).matches()) {
                return digest;
            }
        }
        String digest = HexFormat.of().formatHex(reader.contentDigest());
        if (known != null && stamp.get().settled() && FileStamp.of(reader.path()).equals(stamp.get())) { // not written to while hashed
            Path temp = Files.createTempFile(dir, ".sha256-" + ProcessHandle.current().pid() + "-", ".tmp");
            try {
                Files.writeString(temp, digest, StandardCharsets.US_ASCII);
                publish(temp, known);
            } finally {
                Files.deleteIfExists(temp);
            }
        }
        return digest;
    }

    /** Makes {@code temp} read-only and renames it to {@code name} for good (the directory synced). */
    private void publish(Path temp, Path name) throws IOException {
        try (FileChannel t = FileChannel.open(temp, StandardOpenOption.WRITE)) {
            t.force(true); // before the content gets its name
        }
        Files.setPosixFilePermissions(temp, READ_ONLY);
        try {
            Files.move(temp, name, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            throw new IOException("RAM image cache " + dir + " cannot rename atomically", e);
        }
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }

    /** Deletes the temporary files of processes that died while writing them (an image is as large as a guest's RAM). */
    private void sweepAbandoned() throws IOException {
        try (var files = Files.newDirectoryStream(dir, ".{ram,sha256}-*.tmp")) {
            for (Path f : files) {
                String[] parts = f.getFileName().toString().split("-");
                try {
                    long pid = Long.parseLong(parts[1]);
                    if (ProcessHandle.of(pid).isEmpty()) {
                        Files.deleteIfExists(f);
                    }
                } catch (RuntimeException notOurs) {
                    // not named by this class: left alone
                }
            }
        }
    }

    /**
     * Decodes every chunk and writes its non-zero pages at their places with positional writes (zero pages stay
     * holes); a full disk is an IOException here, where a write through a mapping would be a SIGBUS.
     */
    private static void write(SnapshotReader reader, Path file, long ramBytes) throws IOException {
        List<RamRange> ranges = reader.memoryMap().ranges();
        ChunkAccess chunks = reader.chunkAccess();
        ByteBuffer data = ByteBuffer.allocateDirect(chunks.chunkSize());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE); ChunkAccess.Reader r = chunks.reader()) {
            ch.truncate(0);
            for (int c = 0; c < chunks.count(); c++) {
                ChunkAccess.PagePlacement pages = r.readPacked(c, data);
                long base = packedOffset(ranges, chunks.gpa(c));
                pages.forEachRun((from, to, in) -> {
                    ByteBuffer run = data.duplicate().position(in).limit(in + (to - from) * PAGE);
                    for (long at = base + (long) from * PAGE; run.hasRemaining(); ) {
                        at += ch.write(run, at);
                    }
                });
            }
            if (ch.size() < ramBytes) {
                ch.write(ByteBuffer.allocate(1), ramBytes - 1); // the full size; the rest a hole
            }
        }
    }

    /** Where guest address {@code gpa} lies in an image: the ranges back to back, in order. */
    static long packedOffset(List<RamRange> ranges, long gpa) {
        long offset = 0;
        for (RamRange r : ranges) {
            if (gpa >= r.gpa() && gpa < r.end()) {
                return offset + (gpa - r.gpa());
            }
            offset += r.size();
        }
        throw new IllegalArgumentException("gpa 0x" + Long.toHexString(gpa) + " is outside guest RAM");
    }
}
