package dev.stasis.loader;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * LZ4's legacy frame, as {@code lz4 -l} writes it for kernels: magic 0x184C2102, then blocks of
 * (u32 compressed length, LZ4 block) that each decompress to at most 8 MiB. A block length equal to the magic
 * starts a new concatenated frame (Linux's {@code unlz4} accepts this too).
 */
final class Lz4LegacyFrame {
    private Lz4LegacyFrame() {}

    static final int MAGIC = 0x184c2102;
    static final int MAX_BLOCK = 8 << 20;
    /** LZ4's worst-case expansion of an incompressible 8 MiB block. */
    private static final int MAX_COMPRESSED_BLOCK = MAX_BLOCK + MAX_BLOCK / 255 + 16;

    /** Decodes {@code data[0, length)} into exactly {@code size} bytes or throws {@link InvalidImageException}. */
    static byte[] decode(byte[] data, int length, int size) {
        ByteBuffer in = ByteBuffer.wrap(data, 0, length).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4 || in.getInt() != MAGIC) {
            throw new InvalidImageException("LZ4 kernel payload does not start with the legacy frame magic 0x184c2102");
        }
        LZ4SafeDecompressor lz4 = LZ4Factory.fastestInstance().safeDecompressor();
        ByteArrayOutputStream out = new ByteArrayOutputStream(Math.min(size, MAX_BLOCK));
        byte[] block = new byte[Math.min(size, MAX_BLOCK)];
        while (in.remaining() > 0) {
            if (in.remaining() < 4) {
                throw new InvalidImageException("LZ4 kernel payload ends with " + in.remaining() + " stray bytes after its last block");
            }
            int at = in.position();
            int compressed = in.getInt();
            if (compressed == MAGIC) {
                continue;
            }
            if (compressed <= 0 || compressed > MAX_COMPRESSED_BLOCK || compressed > in.remaining()) {
                throw new InvalidImageException(String.format("LZ4 kernel payload block at offset 0x%x claims %d compressed bytes, %d remain",
                        at, Integer.toUnsignedLong(compressed), in.remaining()));
            }
            int room = Math.min(block.length, size - out.size());
            int produced;
            try {
                produced = lz4.decompress(data, in.position(), compressed, block, 0, room);
            } catch (LZ4Exception e) {
                throw new InvalidImageException(String.format("LZ4 kernel payload block at offset 0x%x is corrupt or decompresses past the declared %d bytes",
                        at, size));
            }
            out.write(block, 0, produced);
            in.position(in.position() + compressed);
        }
        if (out.size() != size) {
            throw new InvalidImageException("LZ4 kernel payload decompresses to " + out.size() + " bytes, but declares " + size);
        }
        return out.toByteArray();
    }
}
