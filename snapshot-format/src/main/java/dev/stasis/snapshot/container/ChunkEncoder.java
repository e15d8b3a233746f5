package dev.stasis.snapshot.container;

import com.github.luben.zstd.ZstdCompressCtx;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Turns one chunk of guest memory into a whole CHUNK block (frame, payload, CRC). One per compression
 * thread at a time: it owns a zstd context and a gather buffer. The output depends only on the guest
 * bytes, the chunk's scan (non-zero pages and duplicate candidates, {@link PageDedup}) and the level, so
 * any number of threads gives the same file.
 */
final class ChunkEncoder implements AutoCloseable {
    private final int level;
    private final BlockType type;
    private final ZstdCompressCtx ctx;
    private final ByteBuffer gather;

    /** @param type CHUNK for guest memory, DISK_CHUNK for a disk's content: the same payload, another stream */
    ChunkEncoder(BlockType type, int level, int chunkSize) {
        this.type = type;
        this.level = level;
        this.ctx = level == 0 ? null : new ZstdCompressCtx().setLevel(level).setChecksum(false).setContentSize(true);
        this.gather = ByteBuffer.allocateDirect(chunkSize);
    }

    /** Result of one chunk: the block (position 0, limit its length) and page counts. */
    record Encoded(ByteBuffer block, int pages, int storedPages, int referencedPages) {}

    /**
     * Each duplicate candidate of the scan is compared byte for byte with its source bytes (reading the
     * source's window, which another thread may be reading too); equal ones become references, the rest
     * are stored. Without references the block is a format 1.0 block (codec 0 or 1); with page-aligned
     * references only, a format 1.1 block (codec 2 or 3).
     */
    Encoded encode(GuestRam ram, MemoryMap.Chunk chunk, PageDedup.Scan scan, ByteBuffer block) {
        int pages = chunk.pages();
        int bitmapLen = ChunkFormat.bitmapBytes(pages);
        int bitmapAt = Layout.FRAME_HEAD + ChunkFormat.HEAD;
        block.clear().order(ByteOrder.LITTLE_ENDIAN);
        int stored = 0;
        int refs = 0;
        int codec = ChunkFormat.CODEC_RAW;
        int dataStart = bitmapAt + bitmapLen;
        int dataLen = 0;
        if (scan.nonZeroPages == 0) {
            for (int i = 0; i < bitmapLen; i++) {
                block.put(bitmapAt + i, (byte) 0);
            }
        } else {
            ByteBuffer w = PageDedup.window(ram, chunk.gpa(), chunk.length());
            int base = w.position();
            block.put(bitmapAt, scan.nonZero);
            stored = scan.nonZeroPages;
            // Confirm candidates: only byte-equal pages become references (their stored bit is cleared).
            long[] sources = scan.refSources;
            int[] refPages = new int[scan.refPages.length];
            long[] refSources = new long[refPages.length];
            long[] refNext = new long[refPages.length];
            boolean spliced = false;
            for (int k = 0; k < scan.refPages.length; k++) {
                int p = scan.refPages[k];
                if (sameBytes(ram, w, base + p * Layout.PAGE_SIZE, sources[k], scan.refNext[k])) {
                    spliced |= sources[k] % Layout.PAGE_SIZE != 0;
                    int at = bitmapAt + p / 8;
                    block.put(at, (byte) (block.get(at) & ~(1 << (p % 8))));
                    refPages[refs] = p;
                    refNext[refs] = scan.refNext[k];
                    refSources[refs++] = sources[k];
                }
            }
            stored -= refs;
            if (refs > 0) {
                int refBitmapAt = bitmapAt + bitmapLen;
                for (int i = 0; i < bitmapLen; i++) {
                    block.put(refBitmapAt + i, (byte) 0);
                }
                int listAt = refBitmapAt + bitmapLen;
                int entry = ChunkFormat.referenceBytes(spliced);
                for (int k = 0; k < refs; k++) {
                    int p = refPages[k];
                    block.put(refBitmapAt + p / 8, (byte) (block.get(refBitmapAt + p / 8) | 1 << (p % 8)));
                    block.putLong(listAt + k * entry, refSources[k]);
                    if (spliced) {
                        block.putLong(listAt + k * entry + 8, refNext[k]); // an aligned source's next is itself (PageDedup)
                    }
                }
                dataStart = listAt + refs * entry;
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
                        if ((block.get(bitmapAt + p / 8) & 1 << (p % 8)) != 0) {
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
            codec = ChunkFormat.codec(codec == ChunkFormat.CODEC_ZSTD, refs > 0, spliced);
        }
        int payload = dataStart - Layout.FRAME_HEAD + dataLen;
        block.putInt(0, type.code).putInt(4, payload);
        block.putLong(8, chunk.gpa()).putInt(16, pages).put(20, (byte) codec).put(21, (byte) 0).putShort(22, (short) 0);
        block.putInt(Layout.FRAME_HEAD + payload, Layout.crc(block, 0, Layout.FRAME_HEAD + payload));
        block.position(0).limit(Layout.FRAME_OVERHEAD + payload);
        return new Encoded(block, pages, stored, refs);
    }

    /**
     * Whether the page at {@code at} in {@code w} holds the guest bytes of the page of {@code source} from its offset
     * on, then (for a source not page aligned) the first bytes of page {@code next}: one page window at a time (a view
     * that copies keeps one page window per thread).
     */
    private static boolean sameBytes(GuestRam ram, ByteBuffer w, int at, long source, long next) {
        int off = (int) (source % Layout.PAGE_SIZE);
        ByteBuffer a = PageDedup.window(ram, source - off, Layout.PAGE_SIZE);
        int head = Layout.PAGE_SIZE - off;
        if (w.slice(at, head).mismatch(a.slice(a.position() + off, head)) != -1) {
            return false;
        }
        if (off == 0) {
            return true;
        }
        ByteBuffer b = PageDedup.window(ram, next, Layout.PAGE_SIZE);
        return w.slice(at + head, off).mismatch(b.slice(b.position(), off)) == -1;
    }

    @Override
    public void close() {
        if (ctx != null) {
            ctx.close();
        }
    }
}
