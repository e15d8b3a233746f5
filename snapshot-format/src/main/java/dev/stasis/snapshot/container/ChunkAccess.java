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
    private final FileBlocks file;
    private final MemoryMap map;
    private final MemoryMap.Chunk[] chunks;
    private final long[] chunkGpas;
    private final int[] blockIndex;
    private final long[] offsets;
    private final long[] lengths;

    ChunkAccess(String path, FileBlocks file, MemoryMap map, int[] blockIndex, long[] offsets, long[] lengths) {
        this.path = path;
        this.file = file;
        this.map = map;
        this.chunks = map.chunks();
        this.chunkGpas = Arrays.stream(chunks).mapToLong(MemoryMap.Chunk::gpa).toArray();
        this.blockIndex = blockIndex;
        this.offsets = offsets;
        this.lengths = lengths;
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

    /** A reader for one thread: it owns a block buffer, a buffer for the chunks references point into, and a zstd context. */
    public Reader reader() {
        return new Reader();
    }

    public final class Reader implements AutoCloseable {
        private final ChunkDecoder decoder = new ChunkDecoder(file, map.chunkSize());
        private final ByteBuffer source = ByteBuffer.allocateDirect(map.chunkSize());
        private int sourceChunk = -1;
        private ChunkDecoder.Decoded sourceDecoded;

        private Reader() {}

        /**
         * Writes chunk {@code i} as the guest had it into {@code into} (a buffer of at least {@link #length} bytes
         * from position 0): stored pages, copies of the pages references name, zeros. Returns which pages are not
         * zero in the file (stored or references), bit p of word p/64 for page p. Throws a
         * {@link SnapshotFormatException} naming the file, chunk, block and offset when the chunk is bad or the
         * file changed size since it was opened.
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
            for (int k = 0; k < d.refPages().length; k++) {
                int page = d.refPages()[k];
                long gpa = chunk.gpa() + (long) page * Layout.PAGE_SIZE;
                String what = ChunkDecoder.describe(chunk, blockIndex[i], offsets[i]);
                int c = PageReference.sourceChunk(what, page, gpa, d.refSources()[k], chunkGpas, chunks);
                if (c != sourceChunk) {
                    sourceChunk = -1;
                    sourceDecoded = decode(c, source);
                    sourceChunk = c;
                }
                int sourcePage = (int) ((d.refSources()[k] - chunks[c].gpa()) / Layout.PAGE_SIZE);
                if (!sourceDecoded.stored(sourcePage)) {
                    throw PageReference.notStored(what, page, gpa, d.refSources()[k], c);
                }
                into.put(page * Layout.PAGE_SIZE, source, sourcePage * Layout.PAGE_SIZE, Layout.PAGE_SIZE);
                nonZero[page >>> 6] |= 1L << page;
            }
            return nonZero;
        }

        private ChunkDecoder.Decoded decode(int i, ByteBuffer into) throws IOException {
            try {
                ChunkDecoder.Decoded d = decoder.decode(chunks[i], blockIndex[i], offsets[i], lengths[i], (gpa, length) -> into.duplicate().clear(), false);
                long now = file.currentSize();
                if (now != file.size()) {
                    throw new SnapshotFormatException(Kind.TRUNCATED, ChunkDecoder.describe(chunks[i], blockIndex[i], offsets[i])
                            + ": the file changed size under the restore, from " + file.size() + " to " + now + " bytes");
                }
                return d;
            } catch (SnapshotFormatException e) {
                throw e.within(path);
            } catch (IOException e) {
                throw new IOException(path + ": " + ChunkDecoder.describe(chunks[i], blockIndex[i], offsets[i]) + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            decoder.close();
        }
    }
}
