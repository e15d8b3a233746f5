package dev.stasis.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Takes the uncompressed kernel ELF ({@code vmlinux}) out of a bzImage: the setup header (protocol 2.08+) locates
 * the payload, its magic names the compression, and the 4 little-endian bytes that end it give the uncompressed
 * size (the build appends them; for gzip they are the gzip trailer's ISIZE).
 */
public final class VmlinuxExtractor {
    private VmlinuxExtractor() {}

    public static final int MIN_PROTOCOL = 0x0208;
    /** No vmlinux is this large; a bigger declared size is a hostile or broken image. */
    public static final int MAX_VMLINUX_SIZE = 512 << 20;

    /** The vmlinux bytes (not yet validated as ELF: {@link ElfImage#parse} does that). */
    public static byte[] extract(byte[] bzImage) {
        SetupHeader header = SetupHeader.parse(bzImage, MIN_PROTOCOL);
        long start = header.setupSize() + header.payloadOffset();
        long length = header.payloadLength();
        if (length < 8 || start + length > bzImage.length) {
            throw new InvalidImageException(String.format("bzImage payload (offset 0x%x, length 0x%x) does not fit in the %d-byte image",
                    header.payloadOffset(), length, bzImage.length));
        }
        long size = Integer.toUnsignedLong(ByteBuffer.wrap(bzImage).order(ByteOrder.LITTLE_ENDIAN).getInt((int) (start + length - 4)));
        if (size > MAX_VMLINUX_SIZE) {
            throw new InvalidImageException(String.format("bzImage payload declares an uncompressed size of %d bytes, above the limit of %d",
                    size, MAX_VMLINUX_SIZE));
        }
        byte[] payload = Arrays.copyOfRange(bzImage, (int) start, (int) (start + length));
        PayloadCompression compression = PayloadCompression.detect(payload);
        return compression.decompress(payload, (int) size);
    }
}
