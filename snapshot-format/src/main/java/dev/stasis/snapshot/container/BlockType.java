package dev.stasis.snapshot.container;

/** The kinds of block between header and trailer; the codes are part of the format. */
public enum BlockType {
    MANIFEST(1),
    SECTION(2),
    MEMORY_MAP(3),
    CHUNK(4),
    INDEX(5),
    /** Since 1.3: one disk's id, size and chunking, before its DISK_CHUNK blocks. */
    DISK_MAP(6),
    /** Since 1.3: one chunk of a disk's content, encoded as a CHUNK (offsets for guest addresses). */
    DISK_CHUNK(7);

    public final int code;

    BlockType(int code) {
        this.code = code;
    }

    /** The type of a code, or null for a code this build does not know (a newer minor's block). */
    public static BlockType of(int code) {
        for (BlockType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
