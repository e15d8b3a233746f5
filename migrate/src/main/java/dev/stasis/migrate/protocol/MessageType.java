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
    REFUSE(13, 4096),
    /** Post-copy: ends the stop phase instead of END, with the pages the destination must still get. */
    POSTCOPY(14, Protocol.MAX_PAGE_SET_PAYLOAD),
    /** Post-copy, destination to source: a page a vCPU waits for. */
    REQUEST(15, 64),
    /** Post-copy: the link is alive (the destination sends one a second, the source answers). */
    PING(16, 64),
    /** Post-copy recovery, destination to source: the pages still missing here. */
    NEED(17, Protocol.MAX_PAGE_SET_PAYLOAD),
    /** Post-copy: every page is at the destination (it says so, the source answers). */
    DONE(18, 64),
    /** Stop-and-copy, before the sections, for a guest with disks on shared storage: a sample of each disk's blocks. */
    DISKS(19, 64 << 10),
    /** {@code --copy-disks}: a span of a disk's blocks, after the disk's slot, in the PAGES format. */
    DISK_PAGES(20, Protocol.MAX_PAGES_PAYLOAD + 16);

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
