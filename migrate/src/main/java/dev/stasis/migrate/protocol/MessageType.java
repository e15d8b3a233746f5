package dev.stasis.migrate.protocol;

/**
 * The messages of protocol version {@link Protocol#VERSION} (docs/migration-protocol.md), each with the
 * largest payload it may have: a frame announcing more is refused before anything is allocated.
 */
public enum MessageType {
    HELLO(1, 256),
    AUTH(2, 64),
    SETUP(3, 64 << 10),
    ACCEPT(4, 64),
    PAGES(5, Protocol.MAX_PAGES_PAYLOAD),
    ROUND(6, 64),
    DATA_END(7, 64),
    SECTION(8, 4 << 20),
    END(9, 64),
    READY(10, 64),
    COMMIT(11, 64),
    STARTED(12, 64),
    REFUSE(13, 4096);

    public final int code;
    public final int maxPayload;

    MessageType(int code, int maxPayload) {
        this.code = code;
        this.maxPayload = maxPayload;
    }

    /** The type of {@code code}, or null for a code this version does not know. */
    public static MessageType of(int code) {
        for (MessageType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return null;
    }
}
