package dev.stasis.snapshot.container;

import com.github.luben.zstd.ZstdCompressCtx;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Turns one chunk of guest memory into a whole CHUNK block (frame, payload, CRC). One per compression
 * thread at a time: it owns a zstd context and a gather buffer. The output depends only on the guest
 * bytes and the level, so any number of threads gives the same file.
 */
final class ChunkEncoder implements AutoCloseable {
    private static final ByteBuffer ZERO_PAGE = ByteBuffer.allocateDirect(Layout.PAGE_SIZE).asReadOnlyBuffer();

    private final int level;
    private final ZstdCompressCtx ctx;
    private final ByteBuffer gather;
    private final ByteBuffer zero = ZERO_PAGE.duplicate();

    ChunkEncoder(int level, int chunkSize) {
        this.level = level;
        this.ctx = level == 0 ? null : new ZstdCompressCtx().setLevel(level).setChecksum(false).setContentSize(true);
        this.gather = ByteBuffer.allocateDirect(chunkSize);
    }

    /** Result of one chunk: the block (position 0, limit its length) and page counts. */
    record Encoded(ByteBuffer block, int pages, int storedPages) {}

    Encoded encode(GuestRam ram, MemoryMap.Chunk chunk, ByteBuffer block) {
        int pages = chunk.pages();
        int bitmapLen = ChunkFormat.bitmapBytes(pages);
        int dataStart = Layout.FRAME_HEAD + ChunkFormat.HEAD + bitmapLen;
        block.clear().order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < bitmapLen; i++) {
            block.put(Layout.FRAME_HEAD + ChunkFormat.HEAD + i, (byte) 0);
        }
        int stored = 0;
        int codec = ChunkFormat.CODEC_RAW;
        int dataLen = 0;
        if (!ram.knownZero(chunk.gpa(), chunk.length())) {
            ByteBuffer w = ram.window(chunk.gpa(), chunk.length());
            if (w == null || w.remaining() < chunk.length()) {
                throw new SnapshotFormatException(Kind.INVALID_INPUT, "guest RAM window at gpa " + Layout.hex(chunk.gpa())
                        + " has " + (w == null ? 0 : w.remaining()) + " bytes, asked for " + chunk.length());
            }
            int base = w.position();
            for (int p = 0; p < pages; p++) {
                if (w.slice(base + p * Layout.PAGE_SIZE, Layout.PAGE_SIZE).mismatch(zero) != -1) {
                    int at = Layout.FRAME_HEAD + ChunkFormat.HEAD + p / 8;
                    block.put(at, (byte) (block.get(at) | 1 << (p % 8)));
                    stored++;
                }
            }
            int raw = stored * Layout.PAGE_SIZE;
            if (stored > 0) {
                // Pages to compress, contiguous: the window itself when every page is stored (zstd needs direct memory).
                ByteBuffer src;
                int srcOff;
                if (stored == pages && (w.isDirect() || level == 0)) {
                    src = w;
                    srcOff = base;
                } else {
                    src = level == 0 ? block : gather;
                    srcOff = level == 0 ? dataStart : 0;
                    int i = 0;
                    for (int p = 0; p < pages; p++) {
                        if ((block.get(Layout.FRAME_HEAD + ChunkFormat.HEAD + p / 8) & 1 << (p % 8)) != 0) {
                            src.put(srcOff + i++ * Layout.PAGE_SIZE, w, base + p * Layout.PAGE_SIZE, Layout.PAGE_SIZE);
                        }
                    }
                }
                int n = level == 0 ? raw : ctx.compressDirectByteBuffer(block, dataStart, block.capacity() - dataStart - 4, src, srcOff, raw);
                if (level != 0 && n < raw) {
                    codec = ChunkFormat.CODEC_ZSTD;
                    dataLen = n;
                } else {
                    if (src != block) {
                        block.put(dataStart, src, srcOff, raw);
                    }
                    dataLen = raw;
                }
            }
        }
        int payload = ChunkFormat.HEAD + bitmapLen + dataLen;
        block.putInt(0, BlockType.CHUNK.code).putInt(4, payload);
        block.putLong(8, chunk.gpa()).putInt(16, pages).put(20, (byte) codec).put(21, (byte) 0).putShort(22, (short) 0);
        block.putInt(Layout.FRAME_HEAD + payload, Layout.crc(block, 0, Layout.FRAME_HEAD + payload));
        block.position(0).limit(Layout.FRAME_OVERHEAD + payload);
        return new Encoded(block, pages, stored);
    }

    @Override
    public void close() {
        if (ctx != null) {
            ctx.close();
        }
    }
}
