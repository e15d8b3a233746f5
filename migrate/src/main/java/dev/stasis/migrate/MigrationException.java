package dev.stasis.migrate;

/**
 * The one failure of live migration. The message is one line saying what went wrong and at which step;
 * {@link Kind} says what a caller can do about it.
 */
public final class MigrationException extends RuntimeException {
    public enum Kind {
        /** The peer speaks another protocol version, or not this protocol at all. */
        VERSION,
        /** Authentication failed or the two sides disagree on how to authenticate. */
        AUTH,
        /** The peer refused (a message of its own, carried in ours). */
        REFUSED,
        /** The bytes from the peer break the protocol: unknown message, bad length, out-of-range value. */
        PROTOCOL,
        /** The connection broke or timed out. */
        LINK,
        /** It did not converge within the time limit. */
        TIMEOUT,
        /** This side failed while building or saving the guest. */
        LOCAL,
        /** Someone cancelled it (the control socket's migrate-cancel) before COMMIT. */
        CANCELLED
    }

    private final Kind kind;

    public MigrationException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public MigrationException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
