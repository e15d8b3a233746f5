package dev.stasis.snapshot.container;

import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Reads, checks and decodes one CHUNK block into guest memory. One per decompression thread: it owns
 * a block buffer, a scratch buffer and a zstd context. Every field is checked against what the memory
 * map says the chunk must be before any byte reaches the sink.
 */
final class ChunkDecoder implements AutoCloseable {

    private final FileBlocks file;
    private final ByteBuffer block;
    private final ByteBuffer scratch;
    private final BlockType type;
    private final String stream;
    private final ByteBuffer zero = ZeroPage.view();
    private final ZstdDecompressCtx ctx = new ZstdDecompressCtx();

    ChunkDecoder(FileBlocks file, BlockType type, String stream, int chunkSize) {
        this.file = file;
        this.type = type;
        this.stream = stream;
        this.block = ByteBuffer.allocateDirect(ChunkFormat.maxBlock(chunkSize)).order(ByteOrder.LITTLE_ENDIAN);
        this.scratch = ByteBuffer.allocateDirect(chunkSize);
    }

    /**
     * What one chunk held: which pages are stored (a copy of its bitmap) and its references, page order; for codecs 4
     * and 5 (splices) {@code refNext} holds each reference's second page, else it is null.
     */
    record Decoded(byte[] storedBitmap, int storedPages, int[] refPages, long[] refSources, long[] refNext) {
        static final int[] NO_PAGES = new int[0];
        static final long[] NO_SOURCES = new long[0];

        boolean stored(int page) {
            return (storedBitmap[page >>> 3] & 1 << (page & 7)) != 0;
        }
    }

    /** How errors name a chunk: of guest memory ({@code stream} empty), or of a disk ({@code "disk ID "}). */
    static String describe(String stream, MemoryMap.Chunk chunk, int blockIndex, long offset) {
        return stream + "chunk " + chunk.index() + " (" + (stream.isEmpty() ? "gpa " : "disk offset ") + Layout.hex(chunk.gpa()) + ", block "
                + blockIndex + " at offset " + offset + ")";
    }

    /**
     * Checks the block and writes its stored pages (and, unless the sink is zeroed, its zero pages) into
     * the sink. Reference pages are left alone: the caller resolves them once every chunk is decoded.
     *
     * @param sink   null to check only (verify)
     */
    Decoded decode(MemoryMap.Chunk chunk, int blockIndex, long offset, long length, GuestRamSink sink, boolean sinkZeroed) throws IOException {
        return decode(chunk, blockIndex, offset, length, sink, sinkZeroed, null);
    }

    /** What {@link #decode} hands the stored pages to, contiguous in address order, before any sink gets them. */
    @FunctionalInterface
    interface StoredPages {
        void accept(ByteBuffer from, int at, int bytes);
    }

    /** A chunk block's header, as {@link #header} read and checked it: where its stored data starts. */
    private record Header(int codec, int pages, int stored, int bitmapAt, int bitmapLen, int[] refPages, long[] refSources, long[] refNext, int dataAt) {}

    /**
     * Reads and checks the header of the {@code len}-byte block in {@code block} (its frame already checked, or at
     * least its first bytes up to the reference list read): codec, bitmaps and references.
     */
    private Header header(MemoryMap.Chunk chunk, String what, int len) {
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
        if (codec < ChunkFormat.CODEC_RAW || codec > ChunkFormat.LAST_CODEC) {
            throw malformed(what, "unknown codec " + codec);
        }
        if (block.get(21) != 0 || block.getShort(22) != 0) {
            throw malformed(what, "reserved header bytes are not zero");
        }
        boolean hasRefs = ChunkFormat.hasRefs(codec);
        int bitmapAt = Layout.FRAME_HEAD + ChunkFormat.HEAD;
        int bitmapLen = ChunkFormat.bitmapBytes(pages);
        int bitmaps = hasRefs ? 2 : 1;
        if (payload < ChunkFormat.HEAD + bitmaps * bitmapLen) {
            throw malformed(what, "payload of " + payload + " bytes is shorter than its page bitmap" + (hasRefs ? "s" : ""));
        }
        int stored = 0;
        for (int i = 0; i < bitmapLen; i++) {
            stored += Integer.bitCount(block.get(bitmapAt + i) & 0xff);
        }
        for (int b = 0; b < bitmaps; b++) {
            if (pages % 8 != 0 && (block.get(bitmapAt + b * bitmapLen + bitmapLen - 1) & 0xff) >>> (pages % 8) != 0) {
                throw malformed(what, (b == 0 ? "bitmap" : "reference bitmap") + " has bits set past its " + pages + " pages");
            }
        }
        int refs = 0;
        int dataAt = bitmapAt + bitmapLen;
        int[] refPages = Decoded.NO_PAGES;
        long[] refSources = Decoded.NO_SOURCES;
        long[] refNext = null;
        if (hasRefs) {
            int refBitmapAt = bitmapAt + bitmapLen;
            for (int i = 0; i < bitmapLen; i++) {
                int r = block.get(refBitmapAt + i) & 0xff;
                int both = r & block.get(bitmapAt + i) & 0xff;
                if (both != 0) {
                    throw malformed(what, "page " + (i * 8 + Integer.numberOfTrailingZeros(both)) + " is marked both stored and a reference");
                }
                refs += Integer.bitCount(r);
            }
            if (refs == 0) {
                throw malformed(what, "codec " + codec + " with no reference pages");
            }
            int listAt = refBitmapAt + bitmapLen;
            int entry = ChunkFormat.referenceBytes(ChunkFormat.splices(codec));
            if ((long) payload - (listAt - Layout.FRAME_HEAD) < (long) refs * entry) {
                throw malformed(what, "payload of " + payload + " bytes is shorter than its " + refs + " references");
            }
            refPages = new int[refs];
            refSources = new long[refs];
            refNext = ChunkFormat.splices(codec) ? new long[refs] : null;
            int k = 0;
            for (int p = 0; p < pages; p++) {
                if ((block.get(refBitmapAt + p / 8) & 1 << (p % 8)) != 0) {
                    refPages[k] = p;
                    refSources[k] = block.getLong(listAt + k * entry);
                    if (refNext != null) {
                        refNext[k] = block.getLong(listAt + k * entry + 8);
                    }
                    k++;
                }
            }
            dataAt = listAt + refs * entry;
        }
        return new Header(codec, pages, stored, bitmapAt, bitmapLen, refPages, refSources, refNext, dataAt);
    }

    /**
     * The guest addresses chunk {@code chunk}'s references read from (each source, and a splice's next page), from the
     * head of its block alone: no CRC, no data decoded, so only a hint (of which chunks will be read as sources) for
     * a reader that checks every chunk when it decodes it.
     */
    long[] referencedGpas(MemoryMap.Chunk chunk, int blockIndex, long offset, long length) throws IOException {
        String what = describe(stream, chunk, blockIndex, offset);
        long head = Layout.FRAME_HEAD + ChunkFormat.HEAD + 2L * ChunkFormat.bitmapBytes(chunk.pages()) + (long) chunk.pages() * ChunkFormat.referenceBytes(true);
        if (length > block.capacity() || length < Layout.FRAME_OVERHEAD) {
            return Decoded.NO_SOURCES;
        }
        block.clear().limit((int) Math.min(length, head));
        file.read(block, offset, what);
        Header h = header(chunk, what, (int) length);
        if (h.refNext() == null) {
            return h.refSources();
        }
        long[] both = Arrays.copyOf(h.refSources(), 2 * h.refSources().length);
        System.arraycopy(h.refNext(), 0, both, h.refSources().length, h.refNext().length);
        return both;
    }

    /** {@link #decode}, also handing the stored pages, contiguous, to {@code stored} (when not null). */
    Decoded decode(MemoryMap.Chunk chunk, int blockIndex, long offset, long length, GuestRamSink sink, boolean sinkZeroed, StoredPages stored0) throws IOException {
        return decode(chunk, blockIndex, offset, length, sink, sinkZeroed, stored0, scratch);
    }

    /**
     * The chunk checked, its stored pages packed in address order into {@code to} from 0 (zstd decodes straight there:
     * no copy), then handed to {@code stored} (when not null) from there.
     */
    Decoded decodePacked(MemoryMap.Chunk chunk, int blockIndex, long offset, long length, ByteBuffer to, StoredPages stored) throws IOException {
        return decode(chunk, blockIndex, offset, length, null, true, (from, at, bytes) -> {
            if (from != to) {
                to.put(0, from, at, bytes); // a raw codec's pages, in the block
            }
            if (stored != null) {
                stored.accept(to, 0, bytes);
            }
        }, to);
    }

    private Decoded decode(MemoryMap.Chunk chunk, int blockIndex, long offset, long length, GuestRamSink sink, boolean sinkZeroed, StoredPages stored0,
            ByteBuffer unpackTo) throws IOException {
        String what = describe(stream, chunk, blockIndex, offset);
        if (length > block.capacity()) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": length " + length + " exceeds the largest possible chunk block " + block.capacity());
        }
        int len = (int) length;
        block.clear().limit(len);
        file.read(block, offset, what);
        FileBlocks.checkFrame(block, len, type.code, what);
        Header h = header(chunk, what, len);
        int pages = h.pages(), stored = h.stored(), bitmapAt = h.bitmapAt(), bitmapLen = h.bitmapLen(), dataAt = h.dataAt();
        boolean hasRefs = h.refPages().length > 0;
        byte[] storedBitmap = new byte[bitmapLen];
        block.get(bitmapAt, storedBitmap);
        Decoded decoded = new Decoded(storedBitmap, stored, h.refPages(), h.refSources(), h.refNext());
        int dataLen = len - 4 - dataAt;
        int raw = stored * Layout.PAGE_SIZE;
        boolean zstd = ChunkFormat.zstd(h.codec());
        if (!zstd && dataLen != raw) {
            throw malformed(what, "holds " + dataLen + " bytes of raw data for " + stored + " stored pages (" + raw + " bytes)");
        }
        if (zstd && (stored == 0 || dataLen == 0)) {
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
        if (zstd) {
            boolean direct = window != null && stored == pages && window.isDirect();
            src = direct ? window : unpackTo;
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
                if (stored0 != null) {
                    stored0.accept(window, base, raw); // every page stored: the window holds them as they are packed
                }
                return decoded;
            }
        }
        if (stored0 != null) {
            stored0.accept(src, srcAt, raw);
        }
        if (window != null) {
            int k = 0;
            for (int p = 0; p < pages; p++) {
                int at = base + p * Layout.PAGE_SIZE;
                if ((block.get(bitmapAt + p / 8) & 1 << (p % 8)) != 0) {
                    window.put(at, src, srcAt + k++ * Layout.PAGE_SIZE, Layout.PAGE_SIZE);
                } else if (!sinkZeroed && !(hasRefs && (block.get(bitmapAt + bitmapLen + p / 8) & 1 << (p % 8)) != 0)) {
                    window.put(at, zero, 0, Layout.PAGE_SIZE);
                }
            }
        }
        return decoded;
    }

    static SnapshotFormatException malformed(String what, String message) {
        return new SnapshotFormatException(Kind.MALFORMED, what + ": " + message);
    }

    @Override
    public void close() {
        ctx.close();
    }
}
