package dev.stasis.snapshot.container;

import com.github.luben.zstd.Zstd;

/**
 * The CHUNK block payload: gpa u64, page count u32, codec u8, three zero bytes, a bitmap with one bit
 * per page (bit i of byte i/8, least significant first; set = page stored, clear = page all zero or a
 * reference), then for codecs 2 and 3 (format 1.1) a second bitmap of reference pages and one u64 source
 * gpa per reference page, then the stored pages in address order: raw (codec 0, 2) or one zstd frame
 * (codec 1, 3) that decompresses to exactly stored-pages x 4096 bytes.
 */
final class ChunkFormat {
    static final int HEAD = 16;
    static final int CODEC_RAW = 0;
    static final int CODEC_ZSTD = 1;
    /** Format 1.1: raw data, with references to earlier pages. */
    static final int CODEC_RAW_REFS = 2;
    /** Format 1.1: zstd data, with references to earlier pages. */
    static final int CODEC_ZSTD_REFS = 3;

    private ChunkFormat() {}

    static int bitmapBytes(int pages) {
        return (pages + 7) / 8;
    }

    static boolean hasRefs(int codec) {
        return codec == CODEC_RAW_REFS || codec == CODEC_ZSTD_REFS;
    }

    static boolean zstd(int codec) {
        return codec == CODEC_ZSTD || codec == CODEC_ZSTD_REFS;
    }

    /**
     * The largest CHUNK block a chunk of {@code chunkSize} can need: two bitmaps, then references and
     * data, which together never exceed the data bound (a reference takes 8 bytes instead of a page).
     */
    static int maxBlock(int chunkSize) {
        long data = Math.max(chunkSize, Zstd.compressBound(chunkSize));
        return Math.toIntExact(Layout.FRAME_OVERHEAD + HEAD + 2L * bitmapBytes(chunkSize / Layout.PAGE_SIZE) + data);
    }
}
