package dev.stasis.devices.virtio.blk;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A disk as the user asks for it: {@code PATH[,readonly][,id=NAME]}. The id is the serial the guest reads
 * (VIRTIO_BLK_T_GET_ID, at most 20 bytes) and the name restore and the log use; {@code disk<N>} by default.
 * {@code privateCopy}: the file was made for this VM from a snapshot's content and loses its name once open.
 */
public record DiskSpec(Path path, boolean readOnly, String id, boolean privateCopy) {
    public DiskSpec(Path path, boolean readOnly, String id) {
        this(path, readOnly, id, false);
    }

    /** A disk on a file made for this VM alone, whose name goes at once ({@link DiskImage#openPrivate}). */
    public static DiskSpec privateCopy(Path path, boolean readOnly, String id) {
        return new DiskSpec(path, readOnly, id, true);
    }

    public static final int MAX_ID_BYTES = 20;
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,20}");

    public DiskSpec {
        if (id != null && !ID.matcher(id).matches()) {
            throw new IllegalArgumentException("a disk id is 1 to 20 letters, digits, '.', '_' or '-': " + id);
        }
    }

    /** Parses {@code PATH[,readonly][,id=NAME]}; the {@code index}th disk is {@code disk<index>} without an id. */
    public static DiskSpec parse(String text, int index) {
        String[] parts = text.split(",");
        if (parts[0].isEmpty()) {
            throw new IllegalArgumentException("--disk needs a path: PATH[,readonly][,id=NAME]");
        }
        boolean readOnly = false;
        String id = null;
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            if (p.equals("readonly") || p.equals("ro")) {
                readOnly = true;
            } else if (p.startsWith("id=")) {
                id = p.substring(3);
            } else {
                throw new IllegalArgumentException("unknown disk option '" + p + "' in " + text + ": PATH[,readonly][,id=NAME]");
            }
        }
        return new DiskSpec(Path.of(parts[0]), readOnly, id == null ? "disk" + index : id);
    }
}
