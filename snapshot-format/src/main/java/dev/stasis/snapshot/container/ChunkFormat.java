package dev.stasis.snapshot.container;

import com.github.luben.zstd.Zstd;

/**
 * The CHUNK block payload: gpa u64, page count u32, codec u8, three zero bytes, a bitmap with one bit
 * per page (bit i of byte i/8, least significant first; set = page stored, clear = page all zero), then
 * the stored pages in address order: raw (codec 0) or one zstd frame (codec 1) that decompresses to
 * exactly stored-pages x 4096 bytes.
 */
final class ChunkFormat {
    static final int HEAD = 16;
    static final int CODEC_RAW = 0;
    static final int CODEC_ZSTD = 1;

    private ChunkFormat() {}

    static int bitmapBytes(int pages) {
        return (pages + 7) / 8;
    }

    /** The largest CHUNK block a chunk of {@code chunkSize} can need. */
    static int maxBlock(int chunkSize) {
        long data = Math.max(chunkSize, Zstd.compressBound(chunkSize));
        return Math.toIntExact(Layout.FRAME_OVERHEAD + HEAD + bitmapBytes(chunkSize / Layout.PAGE_SIZE) + data);
    }
}
