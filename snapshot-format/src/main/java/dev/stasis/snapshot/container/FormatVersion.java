package dev.stasis.snapshot.container;

/**
 * The container's version. A new major means old readers cannot read the file and must refuse it; a new
 * minor only adds what old readers may skip (new block types, trailing reserved fields), so a reader
 * accepts any minor of its own major.
 */
public record FormatVersion(int major, int minor) {
    /**
     * 1.1 added chunk codecs 2 and 3 (page references); 1.2 the manifest's {@link Manifest#OPTIONAL_SECTIONS}
     * (a reader refuses unknown sections not listed there); 1.3 disk content blocks; 1.4 chunk codecs 4 and 5
     * (references to bytes at any offset). Files of every earlier minor read unchanged.
     */
    public static final FormatVersion CURRENT = new FormatVersion(1, 4);

    public boolean readable() {
        return major == CURRENT.major;
    }

    @Override
    public String toString() {
        return major + "." + minor;
    }
}
