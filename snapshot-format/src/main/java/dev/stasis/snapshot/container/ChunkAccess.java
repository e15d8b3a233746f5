package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

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
        /** The source of {@code stored} (a chunk's stored pages, packed) as {@code decoded} says they lie. */
        static Source of(byte[] stored, ChunkDecoder.Decoded decoded, int pages) {
            int[] slot = new int[pages];
            for (int p = 0, k = 0; p < pages; p++) {
                slot[p] = decoded.stored(p) ? k++ : -1;
            }
            return new Source(stored, slot, decoded);
        }

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

        /** Drops every chunk {@code keep} does not name. */
        synchronized void retain(boolean[] keep) {
            for (var it = map.entrySet().iterator(); it.hasNext(); ) {
                var e = it.next();
                if (!keep[e.getKey()]) {
                    it.remove();
                    bytes -= e.getValue().stored().length;
                }
            }
        }
    }

    /** Chunks decoded apart for the references of others (a lazy restore reports it): none the heads named and the cache kept. */
    private final AtomicInteger decodedApart = new AtomicInteger();

    /** How many chunks were decoded apart, again, for the references of other chunks. */
    public int decodedApart() {
        return decodedApart.get();
    }

    /** One decode of a source at a time per stripe: two readers missing one chunk decode it once. */
    private final Object[] sourceLoads = Stream.generate(Object::new).limit(16).toArray();

    /**
     * The chunks some reference reads from, as their blocks' heads say ({@link Reader#findSources}): a reader that decodes
     * one of these anyway keeps its stored pages for the references, not decoding it twice. {@link #KEEP_NONE} until the
     * heads are read, {@link #KEEP_ALL} while they are (any chunk read meanwhile may be a source).
     */
    private volatile boolean[] sourceChunks = KEEP_NONE;
    private static final boolean[] KEEP_NONE = new boolean[0], KEEP_ALL = new boolean[0];
    private final AtomicBoolean headsTaken = new AtomicBoolean();

    /** Lets go of the decoded chunks kept for references (a lazy restore calls it once all memory is in). */
    public void dropCache() {
        sources.clear();
    }

    /** What {@link PagePlacement#forEachRun} calls for pages {@code [from, to)}, whose bytes lie from {@code at} on. */
    @FunctionalInterface
    public interface PlacedRun {
        void accept(int from, int to, int at) throws IOException;
    }

    /** Where a {@link Reader} put a chunk's pages in a buffer: page p's bytes from {@code at[p]}, -1 for a zero page. */
    public record PagePlacement(int[] at) {
        public boolean nonZero(int page) {
            return at[page] >= 0;
        }

        /** Whether any page is not zero. */
        public boolean any() {
            for (int a : at) {
                if (a >= 0) {
                    return true;
                }
            }
            return false;
        }

        /** Calls {@code run} for each run of non-zero pages that lie one after another in the buffer too. */
        public void forEachRun(PlacedRun run) throws IOException {
            for (int p = 0; p < at.length; ) {
                if (at[p] < 0) {
                    p++;
                    continue;
                }
                int from = p++;
                while (p < at.length && at[p] == at[p - 1] + Layout.PAGE_SIZE) {
                    p++;
                }
                run.accept(from, p, at[from]);
            }
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
         * {@link #length} bytes from position 0), each at its place: stored pages and copies of the pages references
         * name; the bytes of its zero pages are left as they were. Returns where the non-zero pages are (page p at
         * p * 4096, or -1 where the file holds a zero page). Throws a {@link SnapshotFormatException} naming the file,
         * chunk, block and offset when the chunk is bad or the file changed size since it was opened.
         */
        public PagePlacement read(int i, ByteBuffer into) throws IOException {
            MemoryMap.Chunk chunk = chunks[i];
            byte[][] kept = keepsAsSource(i);
            ChunkDecoder.Decoded d = checked(i, () -> decoder.decode(chunk, blockIndex[i], offsets[i], lengths[i],
                    (gpa, length) -> into.duplicate().clear(), true, kept == null ? null : keep(kept))); // zero pages: not written, not copied
            kept(i, kept, d);
            int[] at = new int[chunk.pages()];
            for (int p = 0; p < at.length; p++) {
                at[p] = d.stored(p) ? p * Layout.PAGE_SIZE : -1;
            }
            String what = describeIfReferences(i, d);
            for (int k = 0; k < d.refPages().length; k++) {
                int page = d.refPages()[k];
                at[page] = page * Layout.PAGE_SIZE;
                resolve(what, chunk, d, k, into, at[page]);
            }
            return new PagePlacement(at);
        }

        /**
         * Chunk {@code i}'s non-zero pages as the guest had them, packed into {@code into} (direct, at least {@link #length}
         * bytes): its stored pages from 0 in address order as zstd gives them, then the pages its references name, with
         * where each page is. What a lazy restore copies into guest RAM: the decode lands where the copy reads from.
         * Throws as {@link #read}.
         */
        public PagePlacement readPacked(int i, ByteBuffer into) throws IOException {
            MemoryMap.Chunk chunk = chunks[i];
            byte[][] kept = keepsAsSource(i);
            ChunkDecoder.Decoded d = checked(i, () -> decoder.decodePacked(chunk, blockIndex[i], offsets[i], lengths[i], into, kept == null ? null : keep(kept)));
            kept(i, kept, d);
            int[] at = new int[chunk.pages()];
            int next = 0;
            for (int p = 0; p < at.length; p++) {
                at[p] = d.stored(p) ? next++ * Layout.PAGE_SIZE : -1;
            }
            String what = describeIfReferences(i, d);
            for (int k = 0; k < d.refPages().length; k++) {
                at[d.refPages()[k]] = next * Layout.PAGE_SIZE;
                resolve(what, chunk, d, k, into, next++ * Layout.PAGE_SIZE);
            }
            return new PagePlacement(at);
        }

        /** A holder for chunk {@code i}'s stored pages when it may be a source and is not yet kept, else null. */
        private byte[][] keepsAsSource(int i) {
            boolean[] named = sourceChunks;
            boolean keep = named == KEEP_ALL || named != KEEP_NONE && named[i];
            return keep && sources.get(i) == null ? new byte[1][] : null;
        }

        private void kept(int i, byte[][] kept, ChunkDecoder.Decoded d) {
            if (kept != null) {
                sources.put(i, Source.of(kept[0], d, chunks[i].pages())); // references will read it: kept from this decode
            }
        }

        private String describeIfReferences(int i, ChunkDecoder.Decoded d) {
            return d.refPages().length == 0 ? null : ChunkDecoder.describe(stream, chunks[i], blockIndex[i], offsets[i]); // once a chunk
        }

        /** Writes the page reference {@code k} of {@code chunk} names into {@code into} at {@code to}, its source checked first. */
        private void resolve(String what, MemoryMap.Chunk chunk, ChunkDecoder.Decoded d, int k, ByteBuffer into, int to) throws IOException {
            int page = d.refPages()[k];
            long gpa = chunk.gpa() + (long) page * Layout.PAGE_SIZE;
            long src = d.refSources()[k];
            PageReference.Source at = PageReference.locate(what, page, gpa, src, d.refNext() == null ? null : d.refNext()[k], chunkGpas, chunks);
            Source source = source(at.chunk());
            if (!source.decoded().stored(at.page())) {
                throw PageReference.notStored(what, page, gpa, src, src - at.offset(), at.chunk());
            }
            int head = Layout.PAGE_SIZE - at.offset();
            into.put(to, source.stored(), source.at(at.page()) + at.offset(), head);
            if (at.offset() != 0) {
                Source next = source(at.nextChunk());
                if (!next.decoded().stored(at.nextPage())) {
                    throw PageReference.notStored(what, page, gpa, src, at.next(), at.nextChunk());
                }
                into.put(to + head, next.stored(), next.at(at.nextPage()), at.offset());
            }
        }

        /**
         * Notes which chunks references read from, from the heads of every chunk's block (a few KiB each, no data
         * decoded): those a reader decodes then stay for the references (a lazy restore's fill of the byte-wrapped bench
         * file decoded its 27 source chunks 31-47 times more before, a third of its decoding). Unchecked, so only a hint; a head that does not parse is
         * passed over here and refused when its chunk is read. Meant to run beside the readers (the heads of 512 chunks
         * took 1-15 ms here): meanwhile every chunk read is kept, and once the heads are read those no reference names
         * are dropped again. Once per file: a later call returns at once.
         */
        public void findSources() {
            if (!headsTaken.compareAndSet(false, true)) {
                return;
            }
            sourceChunks = KEEP_ALL;
            boolean[] named = referenced();
            sourceChunks = named;
            sources.retain(named);
        }

        private boolean[] referenced() {
            boolean[] named = new boolean[chunks.length];
            for (int i = 0; i < chunks.length; i++) {
                long[] gpas;
                try {
                    gpas = decoder.referencedGpas(chunks[i], blockIndex[i], offsets[i], lengths[i]);
                } catch (IOException | RuntimeException e) {
                    continue; // a hint only: the chunk's own read reports what is wrong with it
                }
                for (long gpa : gpas) {
                    int c = chunkOf(gpa - Long.remainderUnsigned(gpa, Layout.PAGE_SIZE));
                    if (c >= 0) {
                        named[c] = true;
                    }
                }
            }
            return named;
        }

        /** Chunk {@code c} decoded: from the shared cache, or read now (once, whoever asks meanwhile) and put there. */
        private Source source(int c) throws IOException {
            Source s = sources.get(c);
            if (s != null) {
                return s;
            }
            synchronized (sourceLoads[c % sourceLoads.length]) {
                s = sources.get(c);
                if (s == null) {
                    byte[][] stored = new byte[1][];
                    decodedApart.incrementAndGet();
                    // the decoder hands over the stored pages of every chunk, none or many
                    ChunkDecoder.Decoded d = checked(c, () -> decoder.decode(chunks[c], blockIndex[c], offsets[c], lengths[c], null, true, keep(stored)));
                    s = Source.of(stored[0], d, chunks[c].pages());
                    sources.put(c, s);
                }
                return s;
            }
        }

        private static ChunkDecoder.StoredPages keep(byte[][] into) {
            return (from, at, bytes) -> {
                into[0] = new byte[bytes];
                from.get(at, into[0]);
            };
        }

        /** What reads chunk {@code i} through the decoder. */
        private interface Decode {
            ChunkDecoder.Decoded run() throws IOException;
        }

        /** Chunk {@code i} as {@code decode} reads it, the file then checked to have kept its size; errors name the file. */
        private ChunkDecoder.Decoded checked(int i, Decode decode) throws IOException {
            try {
                ChunkDecoder.Decoded d = decode.run();
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
