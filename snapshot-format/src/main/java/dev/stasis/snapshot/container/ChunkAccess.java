package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The guest memory of a file, one chunk at a time and in any order: what a lazy restore needs to serve a
 * page fault from the chunk that holds the page. Every chunk gets the checks an eager read gives it (frame,
 * CRC, header, bitmaps, codec, references) when it is read, and the file is checked not to have changed
 * size since it was opened. Thread-safe; each thread reads through a {@link Reader} of its own.
 */
public final class ChunkAccess {
    private final String path;
    final FileBlocks file;
    final MemoryMap map;
    final BlockType type;
    /** How errors name this stream: empty for guest memory, {@code "disk ID "} for a disk. */
    final String stream;
    final MemoryMap.Chunk[] chunks;
    final long[] chunkGpas;
    final int[] blockIndex;
    final long[] offsets;
    final long[] lengths;

    /** @param type CHUNK for guest memory, DISK_CHUNK for a disk's content; {@code stream} names it in errors */
    ChunkAccess(String path, FileBlocks file, MemoryMap map, BlockType type, String stream, int[] blockIndex, long[] offsets, long[] lengths) {
        this.path = path;
        this.type = type;
        this.stream = stream;
        this.file = file;
        this.map = map;
        this.chunks = map.chunks();
        this.chunkGpas = Arrays.stream(chunks).mapToLong(MemoryMap.Chunk::gpa).toArray();
        this.blockIndex = blockIndex;
        this.offsets = offsets;
        this.lengths = lengths;
        this.sources = new SourceCache(Math.max(SOURCE_CACHE_BYTES, 4L * map.chunkSize()));
    }

    public int count() {
        return chunks.length;
    }

    public int chunkSize() {
        return map.chunkSize();
    }

    public long gpa(int chunk) {
        return chunks[chunk].gpa();
    }

    public int length(int chunk) {
        return chunks[chunk].length();
    }

    /** Where chunk {@code chunk}'s block starts in the file. */
    public long offset(int chunk) {
        return offsets[chunk];
    }

    /** The chunk holding guest address {@code gpa}, or -1 when it is outside the file's RAM. */
    public int chunkOf(long gpa) {
        return chunkOf(gpa, chunkGpas, chunks);
    }

    static int chunkOf(long gpa, long[] chunkGpas, MemoryMap.Chunk[] chunks) {
        int c = Arrays.binarySearch(chunkGpas, gpa);
        c = c >= 0 ? c : -c - 2;
        return c < 0 || gpa - chunks[c].gpa() >= chunks[c].length() ? -1 : c;
    }

    /**
     * A chunk that references point into: its stored pages, packed in address order on the heap (what zstd gives, no
     * page-by-page copy; an evicted one is left to the collector, never reused), and which page is where.
     */
    private record Source(byte[] stored, int[] slot, ChunkDecoder.Decoded decoded) {
        /** Where page {@code page}'s bytes start in {@link #stored}; only for a stored page. */
        int at(int page) {
            return slot[page] * Layout.PAGE_SIZE;
        }
    }

    /**
     * The chunks references point into, decoded once for all readers: the repeats of a page cache point into a few
     * chunks, from many. Least recently used out beyond {@link #SOURCE_CACHE_BYTES} of stored pages. On the heap: a new
     * direct buffer for each source cost more than its decoding (zeroing, first touch, and collections the direct-memory
     * limit forces), and a source holds only its stored pages.
     */
    private final SourceCache sources;
    private static final long SOURCE_CACHE_BYTES = 64L << 20;

    private static final class SourceCache {
        private final long budget;
        private final java.util.LinkedHashMap<Integer, Source> map = new java.util.LinkedHashMap<>(16, 0.75f, true);
        private long bytes;

        SourceCache(long budget) {
            this.budget = budget;
        }

        synchronized Source get(int chunk) {
            return map.get(chunk);
        }

        synchronized void put(int chunk, Source s) {
            Source old = map.put(chunk, s);
            bytes += s.stored().length - (old == null ? 0 : old.stored().length);
            for (var it = map.values().iterator(); bytes > budget && map.size() > 1 && it.hasNext(); ) {
                Source eldest = it.next();
                it.remove();
                bytes -= eldest.stored().length;
            }
        }

        synchronized void clear() {
            map.clear();
            bytes = 0;
        }
    }

    /** Lets go of the decoded chunks kept for references (a lazy restore calls it once all memory is in). */
    public void dropCache() {
        sources.clear();
    }

    /** What {@link #forEachRun} calls for each run of non-zero pages {@code [from, to)} of a chunk. */
    @FunctionalInterface
    public interface PageRun {
        void accept(int from, int to) throws IOException;
    }

    /** Calls {@code run} for each run of set bits in {@code nonZero} (as {@link Reader#read} returns) over {@code pages} pages. */
    public static void forEachRun(long[] nonZero, int pages, PageRun run) throws IOException {
        for (int p = 0; p < pages; ) {
            if ((nonZero[p >>> 6] & 1L << p) == 0) {
                p++;
                continue;
            }
            int from = p;
            while (p < pages && (nonZero[p >>> 6] & 1L << p) != 0) {
                p++;
            }
            run.accept(from, p);
        }
    }

    /** A reader for one thread: it owns a block buffer, a scratch buffer and a zstd context. */
    public Reader reader() {
        return new Reader();
    }

    public final class Reader implements AutoCloseable {
        private final ChunkDecoder decoder = new ChunkDecoder(file, type, stream, map.chunkSize());

        private Reader() {}

        /**
         * Writes chunk {@code i}'s non-zero pages as the guest had them into {@code into} (a buffer of at least
         * {@link #length} bytes from position 0): stored pages and copies of the pages references name; the bytes
         * of its zero pages are left as they were. Returns which pages are not zero in the file (stored or
         * references), bit p of word p/64 for page p. Throws a {@link SnapshotFormatException} naming the file,
         * chunk, block and offset when the chunk is bad or the file changed size since it was opened.
         */
        public long[] read(int i, ByteBuffer into) throws IOException {
            MemoryMap.Chunk chunk = chunks[i];
            ChunkDecoder.Decoded d = decode(i, into);
            long[] nonZero = new long[(chunk.pages() + 63) / 64];
            for (int p = 0; p < chunk.pages(); p++) {
                if (d.stored(p)) {
                    nonZero[p >>> 6] |= 1L << p;
                }
            }
            String what = d.refPages().length == 0 ? null : ChunkDecoder.describe(stream, chunk, blockIndex[i], offsets[i]); // once a chunk
            for (int k = 0; k < d.refPages().length; k++) {
                int page = d.refPages()[k];
                long gpa = chunk.gpa() + (long) page * Layout.PAGE_SIZE;
                long src = d.refSources()[k];
                PageReference.Source at = PageReference.locate(what, page, gpa, src, d.refNext() == null ? null : d.refNext()[k], chunkGpas, chunks);
                Source source = source(at.chunk());
                if (!source.decoded().stored(at.page())) {
                    throw PageReference.notStored(what, page, gpa, src, src - at.offset(), at.chunk());
                }
                int head = Layout.PAGE_SIZE - at.offset();
                into.put(page * Layout.PAGE_SIZE, source.stored(), source.at(at.page()) + at.offset(), head);
                if (at.offset() != 0) {
                    Source next = source(at.nextChunk());
                    if (!next.decoded().stored(at.nextPage())) {
                        throw PageReference.notStored(what, page, gpa, src, at.next(), at.nextChunk());
                    }
                    into.put(page * Layout.PAGE_SIZE + head, next.stored(), next.at(at.nextPage()), at.offset());
                }
                nonZero[page >>> 6] |= 1L << page;
            }
            return nonZero;
        }

        /** Chunk {@code c} decoded: from the shared cache, or read now and put there. */
        private Source source(int c) throws IOException {
            Source s = sources.get(c);
            if (s == null) {
                byte[][] stored = new byte[1][];
                ChunkDecoder.Decoded d = decode(c, null, (from, at, bytes) -> {
                    stored[0] = new byte[bytes];
                    from.get(at, stored[0]);
                });
                int[] slot = new int[chunks[c].pages()];
                for (int p = 0, k = 0; p < slot.length; p++) {
                    slot[p] = d.stored(p) ? k++ : -1;
                }
                s = new Source(stored[0], slot, d); // the decoder hands over the stored pages of every chunk, none or many
                sources.put(c, s);
            }
            return s;
        }

        private ChunkDecoder.Decoded decode(int i, ByteBuffer into) throws IOException {
            return decode(i, into, null);
        }

        /** Chunk {@code i} checked, its stored pages into {@code into} (when not null) and to {@code stored} (when not null). */
        private ChunkDecoder.Decoded decode(int i, ByteBuffer into, ChunkDecoder.StoredPages stored) throws IOException {
            try {
                ChunkDecoder.Decoded d = decoder.decode(chunks[i], blockIndex[i], offsets[i], lengths[i],
                        into == null ? null : (gpa, length) -> into.duplicate().clear(), true, stored); // zero pages: not written, not copied
                long now = file.currentSize();
                if (now != file.size()) {
                    throw new SnapshotFormatException(Kind.TRUNCATED, ChunkDecoder.describe(stream, chunks[i], blockIndex[i], offsets[i])
                            + ": the file changed size under the restore, from " + file.size() + " to " + now + " bytes");
                }
                return d;
            } catch (SnapshotFormatException e) {
                throw e.within(path);
            } catch (IOException e) {
                throw new IOException(path + ": " + ChunkDecoder.describe(stream, chunks[i], blockIndex[i], offsets[i]) + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            decoder.close();
        }
    }
}
