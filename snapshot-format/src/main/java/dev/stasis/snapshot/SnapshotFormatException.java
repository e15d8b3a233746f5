package dev.stasis.snapshot;

/**
 * The one failure of this module: a snapshot file that cannot be read or written as asked. The message
 * is one line that names what is wrong and where (block index and file offset, section, field).
 */
public final class SnapshotFormatException extends RuntimeException {
    /** What kind of wrong; callers branch on this, people read the message. */
    public enum Kind {
        /** Not a stasis snapshot at all. */
        BAD_MAGIC,
        /** A format major version this build does not read. */
        UNSUPPORTED_VERSION,
        /** The file ends before a structure does: an interrupted copy or write. */
        TRUNCATED,
        /** A CRC32C does not match: the bytes changed after writing. */
        CHECKSUM,
        /** Bytes that check out but do not form a valid structure. */
        MALFORMED,
        /** A structure beyond this build's sanity caps (sizes, counts, depths). */
        LIMIT,
        /** A section this build cannot load into its state (version out of range, missing field). */
        INCOMPATIBLE_STATE,
        /** A section asked for by name and instance is not in the file. */
        NOT_FOUND,
        /** A state record or memory source that does not fit what the writer was told. */
        INVALID_INPUT
    }

    private final Kind kind;

    public SnapshotFormatException(Kind kind, String message) {
        super(oneLine(message));
        this.kind = kind;
    }

    public SnapshotFormatException(Kind kind, String message, Throwable cause) {
        super(oneLine(message), cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    /** The same failure with more context in front, e.g. the block it happened in. */
    public SnapshotFormatException within(String where) {
        SnapshotFormatException e = new SnapshotFormatException(kind, where + ": " + getMessage(), getCause());
        e.setStackTrace(getStackTrace());
        return e;
    }

    private static String oneLine(String message) {
        return message.replaceAll("[\\r\\n]+", " ");
    }
}
