package dev.stasis.migrate.protocol;

/** Constants of the wire protocol; docs/migration-protocol.md is their prose. */
public final class Protocol {
    private Protocol() {}

    /** Bumped on any incompatible change; peers of different versions refuse each other. */
    public static final int VERSION = 4;
    /** First bytes of every HELLO: a peer that is not stasis fails here, before any length is trusted. */
    public static final byte[] MAGIC = {'S', 'T', 'A', 'S', 'I', 'S', 'M', 'G'};
    public static final int PAGE_SIZE = 4096;
    /** Pages covered by one PAGES message: 16 MiB of guest RAM. */
    public static final int MAX_SPAN = 4096;
    public static final int MAX_PAGES_PAYLOAD = MAX_SPAN * PAGE_SIZE + 2 * (MAX_SPAN / 8) + 64;
    /** A page set (POSTCOPY, NEED): one bit per page of guest RAM, so up to 512 GiB of RAM. */
    public static final int MAX_PAGE_SET_PAYLOAD = (16 << 20) + 4096;
    public static final int NONCE_BYTES = 32;
    /** Bytes of the HMAC-SHA256 tag after each frame of a PSK session, once the handshake is done. */
    public static final int TAG_BYTES = 16;
    public static final int MAX_CONNECTIONS = 16;
    public static final int MAX_SECTIONS = 4096;
    public static final int MAX_REASON_BYTES = 2048;
}
