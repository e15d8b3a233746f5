package dev.stasis.snapshot.container;

import com.github.luben.zstd.Zstd;

/**
 * The CHUNK block payload: gpa u64, page count u32, codec u8, three zero bytes, a bitmap with one bit
 * per page (bit i of byte i/8, least significant first; set = page stored, clear = page all zero or a
 * reference), then for codecs 2 and 3 (format 1.1) a second bitmap of reference pages and one u64 source
 * gpa per reference page, then the stored pages in address order: raw (codec 0, 2, 4) or one zstd frame
 * (codec 1, 3, 5) that decompresses to exactly stored-pages x 4096 bytes. Codecs 4 and 5 (format 1.4) are 2 and 3
 * with splices: each reference is two u64, a source at any byte address and the page whose first bytes follow the
 * end of the source's page (equal to the source when it is page aligned).
 */
final class ChunkFormat {
    static final int HEAD = 16;
    static final int CODEC_RAW = 0;
    static final int CODEC_ZSTD = 1;
    /** Format 1.1: raw data, with references to earlier pages. */
    static final int CODEC_RAW_REFS = 2;
    /** Format 1.1: zstd data, with references to earlier pages. */
    static final int CODEC_ZSTD_REFS = 3;
    /** Format 1.4: raw data, with references that may splice two earlier pages. */
    static final int CODEC_RAW_SPLICES = 4;
    /** Format 1.4: zstd data, with references that may splice two earlier pages. */
    static final int CODEC_ZSTD_SPLICES = 5;
    static final int LAST_CODEC = CODEC_ZSTD_SPLICES;

    private ChunkFormat() {}

    static int bitmapBytes(int pages) {
        return (pages + 7) / 8;
    }

    static boolean hasRefs(int codec) {
        return codec >= CODEC_RAW_REFS && codec <= LAST_CODEC;
    }

    static boolean zstd(int codec) {
        return codec == CODEC_ZSTD || codec == CODEC_ZSTD_REFS || codec == CODEC_ZSTD_SPLICES;
    }

    /** Whether the codec's references are splices: a source at any byte address and a page to go on in (else a page-aligned source). */
    static boolean splices(int codec) {
        return codec == CODEC_RAW_SPLICES || codec == CODEC_ZSTD_SPLICES;
    }

    /** Bytes of one entry of the reference list: a source gpa, and for codecs 4 and 5 the page the splice goes on in. */
    static int referenceBytes(boolean splices) {
        return splices ? 16 : 8;
    }

    /** The codec for stored data {@code zstd} or raw, with references ({@code splices}: some of them splices) or none. */
    static int codec(boolean zstd, boolean refs, boolean splices) {
        int plain = zstd ? CODEC_ZSTD : CODEC_RAW;
        return !refs ? plain : plain + (splices ? CODEC_RAW_SPLICES : CODEC_RAW_REFS);
    }

    /**
     * The largest CHUNK block a chunk of {@code chunkSize} can need: two bitmaps, then references and
     * data, which together never exceed the data bound (a reference takes 8 or 16 bytes instead of a page).
     */
    static int maxBlock(int chunkSize) {
        long data = Math.max(chunkSize, Zstd.compressBound(chunkSize));
        return Math.toIntExact(Layout.FRAME_OVERHEAD + HEAD + 2L * bitmapBytes(chunkSize / Layout.PAGE_SIZE) + data);
    }
}
