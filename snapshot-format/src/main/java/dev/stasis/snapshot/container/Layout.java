package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The fixed parts of the file (docs/snapshot-format.md): a 32-byte header, blocks framed as
 * {@code type u32, payload length u32, payload, crc32c u32} (the CRC covers type, length and payload),
 * and a 32-byte trailer. All fixed-width integers are little-endian.
 */
final class Layout {
    static final byte[] MAGIC = {(byte) 0x89, 'S', 'T', 'A', 'S', 'I', 'S', '\n'};
    static final byte[] TRAILER_MAGIC = {(byte) 0x89, 'S', 'T', 'A', 'E', 'N', 'D', '\n'};
    static final int HEADER_SIZE = 32;
    static final int TRAILER_SIZE = 32;
    /** Frame header (type, length) before the payload. */
    static final int FRAME_HEAD = 8;
    /** Frame head plus the CRC after the payload. */
    static final int FRAME_OVERHEAD = 12;
    static final int INDEX_ENTRY_SIZE = 16;
    static final int PAGE_SIZE = 4096;

    static final int MAX_MANIFEST = 4 << 20;
    static final int MAX_SECTION = 64 << 20;
    static final int MAX_MEMORY_MAP = 1 << 20;
    static final long MAX_SECTIONS_TOTAL = 512L << 20;
    static final int MAX_SECTIONS = 65_536;

    private Layout() {}

    static ByteBuffer header(FormatVersion v) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(MAGIC).putShort((short) v.major()).putShort((short) v.minor());
        b.putInt(28, crc(b.array(), 0, 28));
        return b.clear();
    }

    static ByteBuffer trailer(long indexOffset, long indexLength) {
        ByteBuffer b = ByteBuffer.allocate(TRAILER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(indexOffset).putLong(indexLength);
        b.putInt(20, crc(b.array(), 0, 20));
        b.put(24, TRAILER_MAGIC);
        return b.clear();
    }

    /** A whole block: frame head, payload, CRC. */
    static ByteBuffer frame(BlockType type, byte[] payload) {
        ByteBuffer b = ByteBuffer.allocate(FRAME_OVERHEAD + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(type.code).putInt(payload.length).put(payload);
        b.putInt(crc(b.array(), 0, FRAME_HEAD + payload.length));
        return b.flip();
    }

    static int crc(byte[] b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b, off, len);
        return (int) c.getValue();
    }

    static int crc(ByteBuffer b, int off, int len) {
        CRC32C c = new CRC32C();
        c.update(b.slice(off, len));
        return (int) c.getValue();
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
