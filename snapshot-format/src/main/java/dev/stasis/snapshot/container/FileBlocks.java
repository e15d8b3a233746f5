package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;

/**
 * Positional reads of a snapshot file and the checks every block frame gets: type, payload length and
 * CRC32C. Safe to use from several threads (positional reads share no file position).
 */
final class FileBlocks {
    private final FileChannel channel;
    private final long size;

    FileBlocks(FileChannel channel, long size) {
        this.channel = channel;
        this.size = size;
    }

    long size() {
        return size;
    }

    /** The file's size now (fstat): a reader that goes on long after open checks it has not changed. */
    long currentSize() throws IOException {
        return channel.size();
    }

    /** Reads {@code b}'s remaining bytes at {@code offset}; the file ending first means it shrank since open. */
    void read(ByteBuffer b, long offset, String what) throws IOException {
        long at = offset;
        while (b.hasRemaining()) {
            int n = channel.read(b, at);
            if (n < 0) {
                throw new SnapshotFormatException(Kind.TRUNCATED, what + ": the file ends at offset " + at + " inside it");
            }
            at += n;
        }
    }

    byte[] read(long offset, int length, String what) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        read(b, offset, what);
        return b.array();
    }

    /**
     * The payload of the block at {@code offset} of {@code length} bytes (frame included), after
     * checking its frame against the index's type and length and its CRC. {@code maxPayload} bounds
     * what is allocated.
     */
    byte[] payload(long offset, long length, int expectedType, int maxPayload, String what) throws IOException {
        if (length - Layout.FRAME_OVERHEAD > maxPayload) {
            throw new SnapshotFormatException(Kind.LIMIT, what + ": length " + length + " exceeds the limit " + (maxPayload + Layout.FRAME_OVERHEAD) + " for its type");
        }
        byte[] block = read(offset, (int) length, what);
        ByteBuffer b = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN);
        checkFrame(b, (int) length, expectedType, what);
        byte[] payload = new byte[(int) length - Layout.FRAME_OVERHEAD];
        System.arraycopy(block, Layout.FRAME_HEAD, payload, 0, payload.length);
        return payload;
    }

    /** Checks a block's frame and CRC reading it in pieces, for blocks of any size (e.g. types of a newer minor). */
    void checkStreaming(long offset, long length, int expectedType, String what) throws IOException {
        ByteBuffer head = ByteBuffer.allocate(Layout.FRAME_HEAD).order(ByteOrder.LITTLE_ENDIAN);
        read(head, offset, what);
        int type = head.getInt(0);
        long payload = Integer.toUnsignedLong(head.getInt(4));
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(head.array());
        ByteBuffer piece = ByteBuffer.allocate(1 << 20);
        for (long at = offset + Layout.FRAME_HEAD; at < offset + length - 4; ) {
            piece.clear().limit((int) Math.min(piece.capacity(), offset + length - 4 - at));
            read(piece, at, what);
            crc.update(piece.flip());
            at += piece.limit();
        }
        ByteBuffer stored = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        read(stored, offset + length - 4, what);
        if (stored.getInt(0) != (int) crc.getValue()) {
            throw new SnapshotFormatException(Kind.CHECKSUM, what + ": checksum mismatch (stored " + Integer.toHexString(stored.getInt(0))
                    + ", computed " + Integer.toHexString((int) crc.getValue()) + ")");
        }
        if (type != expectedType || payload != length - Layout.FRAME_OVERHEAD) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": frame says type " + type + " and payload length " + payload
                    + ", the index says type " + expectedType + " and " + (length - Layout.FRAME_OVERHEAD));
        }
    }

    /** Checks the frame of a whole block held in {@code b} (absolute positions from 0). */
    static void checkFrame(ByteBuffer b, int length, int expectedType, String what) {
        int crc = b.getInt(length - 4);
        int actual = Layout.crc(b, 0, length - 4);
        if (crc != actual) {
            throw new SnapshotFormatException(Kind.CHECKSUM, what + ": checksum mismatch (stored " + Integer.toHexString(crc)
                    + ", computed " + Integer.toHexString(actual) + ")");
        }
        int type = b.getInt(0);
        if (type != expectedType) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": frame says type " + type + ", the index says " + expectedType);
        }
        long payload = Integer.toUnsignedLong(b.getInt(4));
        if (payload != length - Layout.FRAME_OVERHEAD) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": frame says payload length " + payload + ", the index says " + (length - Layout.FRAME_OVERHEAD));
        }
    }
}
