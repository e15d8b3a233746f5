package dev.stasis.loader;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.GZIPOutputStream;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;
import org.junit.jupiter.api.Test;

class VmlinuxExtractorTest {
    /** Over 8 MiB, so LZ4 needs two blocks; half random so the blocks are not trivial. */
    static byte[] sampleVmlinux() {
        byte[] elf = new ElfBuilder().entry(0x1000000).load(0x1000000, new byte[64], 64).build();
        byte[] data = Arrays.copyOf(elf, (9 << 20) + 123);
        Random random = new Random(7);
        for (int i = elf.length; i < data.length; i += 2) {
            data[i] = (byte) random.nextInt(256);
        }
        return data;
    }

    static byte[] lz4Legacy(byte[] data) {
        LZ4Compressor lz4 = LZ4Factory.fastestInstance().highCompressor();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ElfBuilder.le32(Lz4LegacyFrame.MAGIC));
        for (int at = 0; at < data.length; at += Lz4LegacyFrame.MAX_BLOCK) {
            byte[] block = lz4.compress(Arrays.copyOfRange(data, at, Math.min(data.length, at + Lz4LegacyFrame.MAX_BLOCK)));
            out.writeBytes(ElfBuilder.le32(block.length));
            out.writeBytes(block);
        }
        return out.toByteArray();
    }

    static byte[] gzip(byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    private static InvalidImageException rejects(byte[] image, String message) {
        InvalidImageException e = assertThrows(InvalidImageException.class, () -> VmlinuxExtractor.extract(image));
        assertTrue(e.getMessage().contains(message), "message '" + e.getMessage() + "' should mention '" + message + "'");
        return e;
    }

    @Test
    void extractsAnLz4LegacyPayloadOfSeveralBlocks() {
        byte[] vmlinux = sampleVmlinux();
        byte[] image = new BzImageBuilder().payloadWithSize(lz4Legacy(vmlinux), vmlinux.length).build();
        assertArrayEquals(vmlinux, VmlinuxExtractor.extract(image));
    }

    @Test
    void extractsAGzipPayloadWhoseTrailerIsTheSize() {
        byte[] vmlinux = sampleVmlinux();
        BzImageBuilder builder = new BzImageBuilder();
        builder.payload = gzip(vmlinux);
        assertArrayEquals(vmlinux, VmlinuxExtractor.extract(builder.build()));
    }

    @Test
    void extractsAZstdPayload() {
        byte[] vmlinux = sampleVmlinux();
        byte[] image = new BzImageBuilder().payloadWithSize(Zstd.compress(vmlinux, 3), vmlinux.length).build();
        assertArrayEquals(vmlinux, VmlinuxExtractor.extract(image));
    }

    @Test
    void returnsAnUncompressedElfPayloadAsIs() {
        byte[] vmlinux = new ElfBuilder().entry(0x1000000).load(0x1000000, new byte[64], 64).build();
        byte[] image = new BzImageBuilder().payloadWithSize(vmlinux, vmlinux.length).build();
        byte[] extracted = VmlinuxExtractor.extract(image);
        assertArrayEquals(vmlinux, Arrays.copyOf(extracted, vmlinux.length));
        ElfImage.parse(extracted);
    }

    @Test
    void namesAnUnsupportedCompression() {
        byte[] xz = {(byte) 0xfd, '7', 'z', 'X', 'Z', 0, 1, 2, 3};
        rejects(new BzImageBuilder().payloadWithSize(xz, 100).build(), "compressed with XZ");
        rejects(new BzImageBuilder().payloadWithSize(new byte[] {9, 9, 9, 9, 9, 9}, 100).build(), "unknown compression (starts with 09 09");
    }

    @Test
    void rejectsAPayloadOutsideTheImage() {
        byte[] image = new BzImageBuilder().build();
        ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).putInt(SetupHeader.PAYLOAD_OFFSET, 0x7fffffff);
        rejects(image, "does not fit in the");
        byte[] image2 = new BzImageBuilder().build();
        ByteBuffer.wrap(image2).order(ByteOrder.LITTLE_ENDIAN).putInt(SetupHeader.PAYLOAD_LENGTH, -1);
        rejects(image2, "does not fit in the");
    }

    @Test
    void rejectsAnAbsurdDeclaredSizeBeforeDecompressing() {
        rejects(new BzImageBuilder().payloadWithSize(lz4Legacy(new byte[100]), -2).build(), "above the limit");
    }

    @Test
    void rejectsASizeThatDoesNotMatchTheData() {
        byte[] vmlinux = sampleVmlinux();
        rejects(new BzImageBuilder().payloadWithSize(lz4Legacy(vmlinux), vmlinux.length - 1).build(), "decompresses past the declared");
        rejects(new BzImageBuilder().payloadWithSize(lz4Legacy(vmlinux), vmlinux.length + 1).build(), "but declares");
        rejects(new BzImageBuilder().payloadWithSize(Zstd.compress(vmlinux, 1), vmlinux.length - 1).build(), "more than the");
    }

    @Test
    void rejectsCorruptLz4Blocks() {
        byte[] vmlinux = sampleVmlinux();
        byte[] compressed = lz4Legacy(vmlinux);
        byte[] badLength = compressed.clone();
        ByteBuffer.wrap(badLength).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 0x7ffffff0);
        rejects(new BzImageBuilder().payloadWithSize(badLength, vmlinux.length).build(), "claims 2147483632 compressed bytes");
        byte[] badData = compressed.clone();
        // Over the first block's first tokens: literal runs longer than the block (corrupting literals alone goes unnoticed).
        for (int i = 8; i < 40; i++) {
            badData[i] = (byte) 0xff;
        }
        InvalidImageException e = assertThrows(InvalidImageException.class,
                () -> VmlinuxExtractor.extract(new BzImageBuilder().payloadWithSize(badData, vmlinux.length).build()));
        assertTrue(e.getMessage().startsWith("LZ4"), e.getMessage());
    }

    @Test
    void rejectsTruncatedGzip() {
        BzImageBuilder builder = new BzImageBuilder();
        byte[] gz = gzip(sampleVmlinux());
        builder.payload = Arrays.copyOf(gz, gz.length / 2);
        assertThrows(InvalidImageException.class, () -> VmlinuxExtractor.extract(builder.build()));
    }

    @Test
    void rejectsOldProtocolsAndNonKernels() {
        BzImageBuilder old = new BzImageBuilder();
        old.version = 0x0207;
        rejects(old.build(), "2.07 is too old");
        rejects(new byte[4096], "no \"HdrS\" magic");
        rejects(new byte[100], "too short");
    }
}
