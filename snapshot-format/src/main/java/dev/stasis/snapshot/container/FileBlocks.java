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
