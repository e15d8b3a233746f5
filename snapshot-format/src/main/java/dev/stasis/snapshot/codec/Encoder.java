package dev.stasis.snapshot.codec;

import com.esotericsoftware.kryo.io.Output;
import java.nio.charset.StandardCharsets;

/**
 * Writes the primitives of the format through Kryo's {@link Output}: fixed little-endian integers,
 * LEB128 varints (Kryo's; see docs/snapshot-format.md), length-prefixed bytes and UTF-8 strings.
 * Kryo is used for its byte encoding only; no class is ever registered or written.
 */
public final class Encoder {
    private final Output out = new Output(256, -1);

    public Encoder u8(int v) {
        out.writeByte(v);
        return this;
    }

    public Encoder u32(int v) {
        out.writeInt(v);
        return this;
    }

    public Encoder u64(long v) {
        out.writeLong(v);
        return this;
    }

    /** Unsigned varint: 7 bits a byte, low bits first, at most 9 bytes (the ninth carries 8 bits). */
    public Encoder varUnsigned(long v) {
        out.writeVarLong(v, true);
        return this;
    }

    /** Signed varint: zigzag ({@code (v << 1) ^ (v >> 63)}), then as {@link #varUnsigned}. */
    public Encoder varSigned(long v) {
        out.writeVarLong(v, false);
        return this;
    }

    public Encoder bool(boolean v) {
        return u8(v ? 1 : 0);
    }

    public Encoder raw(byte[] bytes) {
        out.writeBytes(bytes);
        return this;
    }

    /** A varint length, then the bytes. */
    public Encoder bytes(byte[] bytes) {
        varUnsigned(bytes.length);
        return raw(bytes);
    }

    /** A varint byte length, then UTF-8. */
    public Encoder string(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8));
    }

    public int size() {
        return out.position();
    }

    public byte[] toBytes() {
        return out.toBytes();
    }
}
