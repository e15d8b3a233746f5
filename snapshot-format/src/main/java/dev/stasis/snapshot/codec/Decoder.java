package dev.stasis.snapshot.codec;

import com.esotericsoftware.kryo.KryoException;
import com.esotericsoftware.kryo.io.Input;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.state.Where;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Reads the primitives of {@link Encoder} from one block's payload, as untrusted input: every length
 * and count is checked against the bytes left in the payload before anything is allocated, and every
 * failure is a {@link SnapshotFormatException} naming the block and the file offset.
 */
public final class Decoder {
    private final Input in;
    private final int start;
    private final int end;
    private final long fileOffset;
    private final String where;

    /**
     * @param fileOffset where {@code data[offset]} sits in the file, for messages
     * @param where      the block being read, e.g. "section uart#0 (block 3)"
     */
    public Decoder(byte[] data, int offset, int length, long fileOffset, String where) {
        this.in = new Input(data, offset, length);
        this.start = offset;
        this.end = offset + length;
        this.fileOffset = fileOffset;
        this.where = where;
    }

    public int remaining() {
        return end - in.position();
    }

    /** Position within the payload. */
    public int position() {
        return in.position() - start;
    }

    public int u8(Object what) {
        need(1, what);
        return in.readByte() & 0xff;
    }

    public boolean bool(Object what) {
        int v = u8(what);
        if (v > 1) {
            throw malformed(what + ": boolean byte is " + v + ", expected 0 or 1");
        }
        return v == 1;
    }

    public int u32(Object what) {
        need(4, what);
        return in.readInt();
    }

    public long u64(Object what) {
        need(8, what);
        return in.readLong();
    }

    /** An unsigned varint that must be at most {@code max} (compared unsigned). */
    public long varUnsigned(Object what, long max) {
        long v = varint(what, true);
        if (Long.compareUnsigned(v, max) > 0) {
            throw malformed(what + " = " + Long.toUnsignedString(v) + " exceeds its maximum " + Long.toUnsignedString(max));
        }
        return v;
    }

    public long varSigned(Object what) {
        return varint(what, false);
    }

    /** An int-sized unsigned varint in {@code [0, max]}. */
    public int varInt(Object what, int max) {
        return (int) varUnsigned(what, max);
    }

    /**
     * A count of elements that each take at least {@code minBytes} bytes (0 for elements that may take
     * none), bounded by what is left in the payload and by {@code cap}.
     */
    public int count(Object what, int minBytes, int cap) {
        long n = varint(what, true);
        if (n < 0 || n > cap) {
            throw new SnapshotFormatException(Kind.LIMIT, at() + ": " + what + " = " + Long.toUnsignedString(n) + " exceeds the limit " + cap);
        }
        if (minBytes > 0 && n * minBytes > remaining()) {
            throw malformed(what + " = " + n + " needs at least " + n * minBytes + " bytes, " + remaining() + " left in the block");
        }
        return (int) n;
    }

    public byte[] raw(int n, Object what) {
        need(n, what);
        return in.readBytes(n);
    }

    /** Passes over {@code n} bytes the caller reads in place (at {@link #position}), once they are known to be there. */
    public void skip(int n, Object what) {
        need(n, what);
        in.setPosition(in.position() + n);
    }

    public byte[] bytes(Object what) {
        return raw(count(Where.suffix(what, " length"), 1, Integer.MAX_VALUE - 16), what);
    }

    public String string(Object what, int maxBytes) {
        int n = count(Where.suffix(what, " length"), 1, maxBytes);
        byte[] b = raw(n, what);
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(b)).toString();
        } catch (CharacterCodingException e) {
            throw malformed(what + " is not valid UTF-8");
        }
    }

    /** The payload must be used up exactly: trailing bytes mean the structure and its length disagree. */
    public void end(Object what) {
        if (remaining() != 0) {
            throw malformed(remaining() + " unexpected bytes after " + what);
        }
    }

    public SnapshotFormatException malformed(String message) {
        return new SnapshotFormatException(Kind.MALFORMED, at() + ": " + message);
    }

    /** The block and the absolute file offset of the current position. */
    public String at() {
        return where + " at offset " + (fileOffset + position());
    }

    private long varint(Object what, boolean unsigned) {
        int p = in.position();
        // Kryo's varint is at most 9 bytes; check the bytes exist so a truncated one names itself.
        int len = 0;
        while (true) {
            if (p + len >= end) {
                throw malformed(what + ": varint runs past the end of the block");
            }
            if (len == 8 || (in.getBuffer()[p + len] & 0x80) == 0) {
                break;
            }
            len++;
        }
        try {
            return in.readVarLong(unsigned);
        } catch (KryoException e) {
            throw malformed(what + ": " + e.getMessage());
        }
    }

    private void need(int n, Object what) {
        if (n < 0 || n > remaining()) {
            throw malformed(what + ": needs " + n + " bytes, " + remaining() + " left in the block");
        }
    }
}
