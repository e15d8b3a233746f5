package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.Arrays;

/**
 * Finding duplicate pages for the writer, in two steps that make the result independent of thread count:
 * {@link #scan} (parallel, one chunk each) marks the non-zero pages and hashes each; {@link #assign}
 * (sequential, chunks in address order) maps each hash to the first page that had it and gives every
 * later page with that hash a candidate source. A candidate is only a hint: the encoder compares the
 * two pages byte for byte and stores the page when they differ, so a hash collision costs a missed
 * duplicate, never a wrong page. Sources are always stored pages at lower addresses (first occurrences
 * are never references), so there are no chains and no forward references.
 */
final class PageDedup {
    private static final long K = 0x9E3779B97F4A7C15L;
    private static final long M1 = 0xFF51AFD7ED558CCDL;
    private static final long M2 = 0xC4CEB9FE1A85EC53L;
    private static final int PAGE_LONGS = Layout.PAGE_SIZE / 8;

    private PageDedup() {}

    /** One chunk after the scan: which pages are non-zero, their hashes, and (after assign) candidate sources. */
    static final class Scan {
        /** Bit i of byte i/8: page i is not all zero. */
        final byte[] nonZero;
        /** Per page; meaningful for non-zero pages only. Null when the chunk has no non-zero page. */
        final long[] hashes;
        final int nonZeroPages;
        /** Candidates, ascending page order: page index and the gpa of the earlier page with the same hash. */
        int[] refPages = new int[0];
        long[] refSources = new long[0];

        Scan(byte[] nonZero, long[] hashes, int nonZeroPages) {
            this.nonZero = nonZero;
            this.hashes = hashes;
            this.nonZeroPages = nonZeroPages;
        }

        boolean nonZero(int page) {
            return (nonZero[page >>> 3] & 1 << (page & 7)) != 0;
        }
    }

    /** Marks and hashes the non-zero pages of one chunk; a chunk the RAM knows to be zero is not read. */
    static Scan scan(GuestRam ram, MemoryMap.Chunk chunk) {
        int pages = chunk.pages();
        byte[] bitmap = new byte[ChunkFormat.bitmapBytes(pages)];
        if (ram.knownZero(chunk.gpa(), chunk.length())) {
            return new Scan(bitmap, null, 0);
        }
        ByteBuffer w = window(ram, chunk.gpa(), chunk.length());
        int base = w.position();
        LongBuffer longs = w.slice(base, chunk.length()).order(ByteOrder.nativeOrder()).asLongBuffer();
        long[] hashes = null;
        int n = 0;
        for (int p = 0; p < pages; p++) {
            int at = base + p * Layout.PAGE_SIZE;
            if (!ZeroPage.isZero(w.slice(at, Layout.PAGE_SIZE))) {
                if (hashes == null) {
                    hashes = new long[pages];
                }
                bitmap[p >>> 3] |= (byte) (1 << (p & 7));
                hashes[p] = hash(longs, p * PAGE_LONGS);
                n++;
            }
        }
        return new Scan(bitmap, hashes, n);
    }

    /** The guest window, checked to be as long as asked. */
    static ByteBuffer window(GuestRam ram, long gpa, int length) {
        ByteBuffer w = ram.window(gpa, length);
        if (w == null || w.remaining() < length) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "guest RAM window at gpa " + Layout.hex(gpa)
                    + " has " + (w == null ? 0 : w.remaining()) + " bytes, asked for " + length);
        }
        return w;
    }

    /** Longs of a page that go into its hash: one in every {@link #SAMPLE_STRIDE}, spread over the page. */
    private static final int SAMPLE_STRIDE = 8;

    /**
     * A 64-bit hash of a sample of the page of 512 longs at {@code at} (every eighth long, 512 bytes of the
     * 4096, spread over the whole page), in four FxHash-style lanes (rotate, xor, multiply), mixed with
     * MurmurHash3's finalizer. It is a candidate key, not a proof: every candidate is compared byte for byte
     * before it becomes a reference, so two pages that differ only between samples cost one failed compare.
     * Hashing a sample keeps the scan cheap beside zero detection (the full page cost as much again).
     */
    static long hash(LongBuffer b, int at) {
        long a = 1;
        long c = 2;
        long d = 3;
        long e = 4;
        for (int i = at, end = at + PAGE_LONGS; i < end; i += 4 * SAMPLE_STRIDE) {
            a = (Long.rotateLeft(a, 23) ^ b.get(i)) * K;
            c = (Long.rotateLeft(c, 23) ^ b.get(i + SAMPLE_STRIDE)) * K;
            d = (Long.rotateLeft(d, 23) ^ b.get(i + 2 * SAMPLE_STRIDE)) * K;
            e = (Long.rotateLeft(e, 23) ^ b.get(i + 3 * SAMPLE_STRIDE + SAMPLE_STRIDE - 1)) * K;
        }
        long h = a ^ Long.rotateLeft(c, 16) ^ Long.rotateLeft(d, 32) ^ Long.rotateLeft(e, 48);
        h ^= h >>> 33;
        h *= M1;
        h ^= h >>> 33;
        h *= M2;
        return h ^ h >>> 33;
    }

    /** Chunks in address order: the first page with each hash is its source; later ones get it as candidate. */
    static void assign(MemoryMap.Chunk[] chunks, Scan[] scans) {
        long nonZero = 0;
        for (Scan s : scans) {
            nonZero += s.nonZeroPages;
        }
        if (nonZero < 2) {
            return;
        }
        LongMap first = new LongMap(nonZero);
        int[] pages = new int[64];
        long[] sources = new long[64];
        for (int c = 0; c < chunks.length; c++) {
            Scan s = scans[c];
            if (s.nonZeroPages == 0) {
                continue;
            }
            int n = 0;
            for (int p = 0; p < chunks[c].pages(); p++) {
                if (s.nonZero(p)) {
                    long gpa = chunks[c].gpa() + (long) p * Layout.PAGE_SIZE;
                    long source = first.putIfAbsent(s.hashes[p], gpa);
                    if (source >= 0) {
                        if (n == pages.length) {
                            pages = Arrays.copyOf(pages, n * 2);
                            sources = Arrays.copyOf(sources, n * 2);
                        }
                        pages[n] = p;
                        sources[n++] = source;
                    }
                }
            }
            if (n > 0) {
                s.refPages = Arrays.copyOf(pages, n);
                s.refSources = Arrays.copyOf(sources, n);
            }
        }
    }

    /** Every candidate source of every scan, sorted, each once: the pages the encoder reads again later. */
    static long[] sources(Scan[] scans) {
        return Arrays.stream(scans).flatMapToLong(s -> Arrays.stream(s.refSources)).sorted().distinct().toArray();
    }

    /** Open addressing, long keys to non-negative long values, no removal; sized once. */
    static final class LongMap {
        private final long[] keys;
        private final long[] values; // value + 1; 0 = empty slot
        private final int mask;
        private final int limit;
        private int size;

        LongMap(long expected) {
            int cap = Integer.highestOneBit((int) Math.min(1 << 28, Math.max(16, expected * 2 - 1))) << 1;
            limit = cap - cap / 4;
            keys = new long[cap];
            values = new long[cap];
            mask = cap - 1;
        }

        /**
         * The value already mapped to {@code key}, or -1 after mapping it to {@code value} (when the map is
         * full, beyond 2^28 distinct pages, new keys are no longer added: duplicates of them are missed).
         */
        long putIfAbsent(long key, long value) {
            for (int i = (int) (key ^ key >>> 32) & mask; ; i = i + 1 & mask) {
                long v = values[i];
                if (v == 0) {
                    if (size == limit) {
                        return -1;
                    }
                    size++;
                    keys[i] = key;
                    values[i] = value + 1;
                    return -1;
                }
                if (keys[i] == key) {
                    return v - 1;
                }
            }
        }
    }
}
