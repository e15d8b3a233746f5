package dev.stasis.checkpoint;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The order in which a lazily restored guest first touched its memory chunks, kept beside the snapshot file
 * ({@code FILE.order}) so the next lazy restore of the file fetches those chunks first (the working set, as REAP
 * records it). Only a hint: it names the file's size, modification time and chunk count, and is ignored (and
 * replaced) when they differ or it does not parse; it is not written where the file's directory is not writable.
 *
 * <pre>
 * stasis fetch-order 1 size=SIZE mtime_ns=NS chunks=N
 * C0 C1 C2 ...
 * </pre>
 */
final class FetchOrder {
    private static final String MAGIC = "stasis fetch-order 1";
    private static final long MAX_BYTES = 1 << 20;

    private FetchOrder() {}

    static Path of(Path snapshot) {
        return snapshot.resolveSibling(snapshot.getFileName() + ".order");
    }

    /** The chunks to fetch first for {@code snapshot}, or none. */
    static int[] read(Path snapshot, int chunks) {
        Path file = of(snapshot);
        try {
            if (!Files.isRegularFile(file) || Files.size(file) > MAX_BYTES) {
                return new int[0];
            }
            String[] lines = Files.readString(file, StandardCharsets.US_ASCII).split("\n");
            if (lines.length < 2 || !lines[0].equals(header(snapshot, chunks))) {
                return new int[0];
            }
            int[] order = Arrays.stream(lines[1].trim().split(" ")).filter(s -> !s.isEmpty()).mapToInt(Integer::parseInt).toArray();
            return Arrays.stream(order).allMatch(c -> c >= 0 && c < chunks) ? order : new int[0];
        } catch (IOException | RuntimeException e) {
            return new int[0]; // a hint that cannot be read is no hint
        }
    }

    /**
     * Records the order beside {@code snapshot} (a temporary file renamed into place) unless a current record is there
     * already: the first lazy restore of a file records its working set, later ones use it (delete it to record anew).
     * Quietly nothing where it cannot be written.
     */
    static void recordIfAbsent(Path snapshot, int chunks, int[] order) {
        if (order.length == 0 || read(snapshot, chunks).length > 0) {
            return;
        }
        Path file = of(snapshot);
        try {
            StringBuilder b = new StringBuilder(header(snapshot, chunks)).append('\n');
            for (int c : order) {
                b.append(c).append(' ');
            }
            Path temp = Files.createTempFile(file.toAbsolutePath().getParent(), ".order-", ".tmp");
            try {
                Files.writeString(temp, b.append('\n'), StandardCharsets.US_ASCII);
                Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(temp);
            }
        } catch (IOException | RuntimeException e) {
            // a read-only directory, a full disk: the next restore fetches in address order
        }
    }

    private static String header(Path snapshot, int chunks) throws IOException {
        return MAGIC + " size=" + Files.size(snapshot) + " mtime_ns=" + Files.getLastModifiedTime(snapshot).to(TimeUnit.NANOSECONDS) + " chunks=" + chunks;
    }
}
