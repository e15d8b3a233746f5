package dev.stasis.devices.virtio.blk;

import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * A disk as the user asks for it: {@code PATH[,readonly][,id=NAME]}. The id is the serial the guest reads
 * (VIRTIO_BLK_T_GET_ID, at most 20 bytes) and the name restore and the log use; {@code disk<N>} by default.
 * {@code base}: when not null, the file is a copy-on-write overlay over it, made for this VM, nameless once open.
 */
public record DiskSpec(Path path, boolean readOnly, String id, DiskBase base) {
    public DiskSpec(Path path, boolean readOnly, String id) {
        this(path, readOnly, id, null);
    }

    /**
     * A disk of this VM alone: {@code path}, an empty file of {@code base}'s size made for it, takes what the guest
     * writes, {@code base} gives the rest, and the file's name goes at once ({@link DiskImage#openOverlay}).
     */
    public static DiskSpec overlay(Path path, boolean readOnly, String id, DiskBase base) {
        return new DiskSpec(path, readOnly, id, base);
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
