package dev.stasis.snapshot.container;

/** The kinds of block between header and trailer; the codes are part of the format. */
public enum BlockType {
    MANIFEST(1),
    SECTION(2),
    MEMORY_MAP(3),
    CHUNK(4),
    INDEX(5);

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
