package dev.stasis.snapshot.container;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Reads, checks and decodes one CHUNK block into guest memory. One per decompression thread: it owns
 * a block buffer, a scratch buffer and a zstd context. Every field is checked against what the memory
 * map says the chunk must be before any byte reaches the sink.
 */
final class ChunkDecoder implements AutoCloseable {
    private static final ByteBuffer ZERO_PAGE = ByteBuffer.allocateDirect(Layout.PAGE_SIZE).asReadOnlyBuffer();

    private final FileBlocks file;
    private final ByteBuffer block;
    private final ByteBuffer scratch;
    private final ByteBuffer zero = ZERO_PAGE.duplicate();
    private final ZstdDecompressCtx ctx = new ZstdDecompressCtx();

    ChunkDecoder(FileBlocks file, int chunkSize) {
        this.file = file;
        this.block = ByteBuffer.allocateDirect(ChunkFormat.maxBlock(chunkSize)).order(ByteOrder.LITTLE_ENDIAN);
        this.scratch = ByteBuffer.allocateDirect(chunkSize);
    }

    /**
     * @param sink   null to check only (verify)
     * @return the number of stored (non-zero) pages
     */
    int decode(MemoryMap.Chunk chunk, int blockIndex, long offset, long length, GuestRamSink sink, boolean sinkZeroed) throws IOException {
        String what = "chunk " + chunk.index() + " (gpa " + Layout.hex(chunk.gpa()) + ", block " + blockIndex + " at offset " + offset + ")";
        if (length > block.capacity()) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": length " + length + " exceeds the largest possible chunk block " + block.capacity());
        }
        int len = (int) length;
        block.clear().limit(len);
        file.read(block, offset, what);
        FileBlocks.checkFrame(block, len, BlockType.CHUNK.code, what);
        int payload = len - Layout.FRAME_OVERHEAD;
        if (payload < ChunkFormat.HEAD) {
            throw malformed(what, "payload of " + payload + " bytes is shorter than the chunk header");
        }
        long gpa = block.getLong(8);
        int pages = block.getInt(16);
        int codec = block.get(20);
        if (gpa != chunk.gpa() || pages != chunk.pages()) {
            throw malformed(what, "header says gpa " + Layout.hex(gpa) + " with " + Integer.toUnsignedString(pages)
                    + " pages, the memory map says gpa " + Layout.hex(chunk.gpa()) + " with " + chunk.pages() + " pages");
        }
        if (codec != ChunkFormat.CODEC_RAW && codec != ChunkFormat.CODEC_ZSTD) {
            throw malformed(what, "unknown codec " + codec);
        }
        if (block.get(21) != 0 || block.getShort(22) != 0) {
            throw malformed(what, "reserved header bytes are not zero");
        }
        int bitmapAt = Layout.FRAME_HEAD + ChunkFormat.HEAD;
        int bitmapLen = ChunkFormat.bitmapBytes(pages);
        if (payload < ChunkFormat.HEAD + bitmapLen) {
            throw malformed(what, "payload of " + payload + " bytes is shorter than its page bitmap");
        }
        int stored = 0;
        for (int i = 0; i < bitmapLen; i++) {
            stored += Integer.bitCount(block.get(bitmapAt + i) & 0xff);
        }
        if (pages % 8 != 0 && (block.get(bitmapAt + bitmapLen - 1) & 0xff) >>> (pages % 8) != 0) {
            throw malformed(what, "bitmap has bits set past its " + pages + " pages");
        }
        int dataAt = bitmapAt + bitmapLen;
        int dataLen = payload - ChunkFormat.HEAD - bitmapLen;
        int raw = stored * Layout.PAGE_SIZE;
        if (codec == ChunkFormat.CODEC_RAW && dataLen != raw) {
            throw malformed(what, "holds " + dataLen + " bytes of raw data for " + stored + " stored pages (" + raw + " bytes)");
        }
        if (codec == ChunkFormat.CODEC_ZSTD && (stored == 0 || dataLen == 0)) {
            throw malformed(what, "zstd codec with " + stored + " stored pages and " + dataLen + " bytes of data");
        }

        ByteBuffer window = null;
        int base = 0;
        if (sink != null) {
            window = sink.window(chunk.gpa(), chunk.length());
            if (window == null || window.remaining() < chunk.length()) {
                throw new SnapshotFormatException(Kind.INVALID_INPUT, what + ": the guest RAM sink gave a window of "
                        + (window == null ? 0 : window.remaining()) + " bytes for " + chunk.length());
            }
            base = window.position();
        }
        // Where the stored pages are now, contiguous.
        ByteBuffer src = block;
        int srcAt = dataAt;
        if (codec == ChunkFormat.CODEC_ZSTD) {
            boolean direct = window != null && stored == pages && window.isDirect();
            src = direct ? window : scratch;
            srcAt = direct ? base : 0;
            int n;
            try {
                n = ctx.decompressDirectByteBuffer(src, srcAt, raw, block, dataAt, dataLen);
            } catch (ZstdException e) {
                throw malformed(what, "zstd data does not decode: " + e.getMessage());
            }
            if (n != raw) {
                throw malformed(what, "zstd data decodes to " + n + " bytes, expected " + raw);
            }
            if (direct) {
                return stored;
            }
        }
        if (window != null) {
            int k = 0;
            for (int p = 0; p < pages; p++) {
                int at = base + p * Layout.PAGE_SIZE;
                if ((block.get(bitmapAt + p / 8) & 1 << (p % 8)) != 0) {
                    window.put(at, src, srcAt + k++ * Layout.PAGE_SIZE, Layout.PAGE_SIZE);
                } else if (!sinkZeroed) {
                    window.put(at, zero, 0, Layout.PAGE_SIZE);
                }
            }
        }
        return stored;
    }

    private static SnapshotFormatException malformed(String what, String message) {
        return new SnapshotFormatException(Kind.MALFORMED, what + ": " + message);
    }

    @Override
    public void close() {
        ctx.close();
    }
}
