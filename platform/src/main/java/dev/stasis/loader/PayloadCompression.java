package dev.stasis.loader;

import com.github.luben.zstd.ZstdInputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * The compressions a kernel build can choose for the vmlinux inside a bzImage, told apart by their magic
 * (as Linux's own {@code decompress_method} does). Only some can be decoded here.
 */
enum PayloadCompression {
    GZIP(true, 0x1f, 0x8b),
    LZ4_LEGACY(true, 0x02, 0x21, 0x4c, 0x18),
    ZSTD(true, 0x28, 0xb5, 0x2f, 0xfd),
    /** CONFIG_KERNEL_UNCOMPRESSED: the payload is the ELF itself. */
    NONE(true, 0x7f, 'E', 'L', 'F'),
    XZ(false, 0xfd, '7', 'z', 'X', 'Z', 0x00),
    LZMA(false, 0x5d, 0x00, 0x00),
    BZIP2(false, 'B', 'Z', 'h'),
    LZO(false, 0x89, 'L', 'Z', 'O');

    private final boolean supported;
    private final byte[] magic;

    PayloadCompression(boolean supported, int... magic) {
        this.supported = supported;
        this.magic = new byte[magic.length];
        for (int i = 0; i < magic.length; i++) {
            this.magic[i] = (byte) magic[i];
        }
    }

    static PayloadCompression detect(byte[] payload) {
        for (PayloadCompression c : values()) {
            if (payload.length >= c.magic.length && Arrays.equals(payload, 0, c.magic.length, c.magic, 0, c.magic.length)) {
                if (!c.supported) {
                    throw new InvalidImageException("the kernel payload is compressed with " + c + ", which this loader cannot decompress (gzip, lz4, zstd or none)");
                }
                return c;
            }
        }
        throw new InvalidImageException(String.format("the kernel payload has an unknown compression (starts with %s)",
                hex(Arrays.copyOf(payload, Math.min(6, payload.length)))));
    }

    /**
     * Decompresses a whole payload into exactly {@code size} bytes. gzip ends with its own ISIZE; for the others the
     * build appended the 4-byte size, which the decoder must not see. An uncompressed payload is returned as is,
     * trailer and all: the ELF headers bound what is read from it. Output grows only as real data arrives, so a
     * lying size cannot force a large allocation.
     */
    byte[] decompress(byte[] payload, int size) {
        int withoutSize = payload.length - 4;
        return switch (this) {
            case LZ4_LEGACY -> Lz4LegacyFrame.decode(payload, withoutSize, size);
            case GZIP -> stream(new ByteArrayInputStream(payload), size, GZIPInputStream::new);
            case ZSTD -> stream(new ByteArrayInputStream(payload, 0, withoutSize), size, ZstdInputStream::new);
            case NONE -> payload;
            default -> throw new AssertionError(this);
        };
    }

    private interface Decoder {
        InputStream open(InputStream in) throws IOException;
    }

    private byte[] stream(InputStream compressed, int size, Decoder decoder) {
        try (InputStream in = decoder.open(compressed)) {
            byte[] out = in.readNBytes(size);
            if (in.read() != -1) {
                throw new InvalidImageException(this + " kernel payload decompresses to more than the " + size + " bytes it declares");
            }
            return exact(out, size);
        } catch (IOException e) {
            throw new InvalidImageException(this + " kernel payload is corrupt: " + e.getMessage());
        }
    }

    private byte[] exact(byte[] out, int size) {
        if (out.length != size) {
            throw new InvalidImageException(this + " kernel payload decompresses to " + out.length + " bytes, but declares " + size);
        }
        return out;
    }

    private static String hex(byte[] bytes) {
        StringBuilder s = new StringBuilder();
        for (byte x : bytes) {
            s.append(s.length() == 0 ? "" : " ").append(String.format("%02x", x));
        }
        return s.toString();
    }
}
