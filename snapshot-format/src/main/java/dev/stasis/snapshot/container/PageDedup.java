package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.Arrays;

/**
 * Finding duplicate pages for the writer, in two steps that make the result independent of thread count:
 * {@link #scan} (parallel, one chunk each) marks the non-zero pages, hashes each and finds its anchors;
 * {@link #assign} (sequential, chunks in address order) maps each hash to the first page that had it and gives every
 * later page with that hash a candidate source. A candidate is only a hint: the encoder compares the
 * two pages byte for byte and stores the page when they differ, so a hash collision costs a missed
 * duplicate, never a wrong page. Sources are always stored pages at lower addresses (first occurrences
 * are never references), so there are no chains and no forward references.
 *
 * <p>A page whose bytes appeared before at another offset (a file in the page cache and the same file inside an
 * archive or read on past its unaligned end, a buffer copied to an unaligned address) has no aligned twin: its bytes
 * are the end of one earlier page and the start of another (the next page of the same file, wherever it lies).
 * Anchors find both: positions chosen by the bytes alone ({@link #ANCHOR_BYTE} and the byte after it, about 4 in a
 * page of random bytes), keyed by the 16 bytes from there. A page without an aligned twin looks its anchors up among those of earlier
 * stored pages: an anchor found at another offset says which page its part of the page came from and where; a part
 * that has no anchor found is taken from the page the previous splice at that offset ended in, from the head of the
 * next one (a file's pages follow each other), or from the neighbour of the other part's page. That gives a candidate
 * splice (format 1.4, codecs 4 and 5): the page's source at any byte address, and the page the rest comes from.
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
        /** Candidates, ascending page order: page index and the gpa of the earlier bytes with the same hash or anchor. */
        int[] refPages = new int[0];
        long[] refSources = new long[0];
        /** Per candidate: the page whose first bytes end it (a splice, when its source is not page aligned), else the source. */
        long[] refNext = new long[0];
        /** The anchors of the non-zero pages, in offset order: byte offset in the chunk and key. */
        int anchors;
        int[] anchorAt = new int[0];
        long[] anchorKey = new long[0];
        /** Bit i: page i has a candidate (set by assign); such a page is never a source. */
        private long[] candidates;

        Scan(byte[] nonZero, long[] hashes, int nonZeroPages) {
            this.nonZero = nonZero;
            this.hashes = hashes;
            this.nonZeroPages = nonZeroPages;
        }

        boolean nonZero(int page) {
            return (nonZero[page >>> 3] & 1 << (page & 7)) != 0;
        }

        /** Non-zero and without a candidate: a page that will be stored, which a later page may refer to. */
        boolean source(int page) {
            return nonZero(page) && (candidates == null || (candidates[page >>> 6] & 1L << page) == 0);
        }

        private void unmarkCandidate(int page) {
            candidates[page >>> 6] &= ~(1L << page);
        }

        private void markCandidate(int page) {
            if (candidates == null) {
                candidates = new long[(nonZero.length * 8 + 63) / 64];
            }
            candidates[page >>> 6] |= 1L << page;
        }

        private void addAnchor(int at, long key) {
            if (anchors == anchorAt.length) {
                anchorAt = Arrays.copyOf(anchorAt, Math.max(64, anchors * 2));
                anchorKey = Arrays.copyOf(anchorKey, anchorAt.length);
            }
            anchorAt[anchors] = at;
            anchorKey[anchors++] = key;
        }
    }

    /** Marks and hashes the non-zero pages of one chunk; a chunk the RAM knows to be zero is not read. */
    static Scan scan(GuestRam ram, MemoryMap.Chunk chunk) {
        return scan(ram, chunk, 0);
    }

    /** {@link #scan(GuestRam, MemoryMap.Chunk)}, keeping only the anchors whose key has no bit of {@code anchorMask} set. */
    static Scan scan(GuestRam ram, MemoryMap.Chunk chunk, long anchorMask) {
        int pages = chunk.pages();
        byte[] bitmap = new byte[ChunkFormat.bitmapBytes(pages)];
        if (ram.knownZero(chunk.gpa(), chunk.length())) {
            return new Scan(bitmap, null, 0);
        }
        ByteBuffer w = window(ram, chunk.gpa(), chunk.length());
        int base = w.position();
        ByteBuffer bytes = w.slice(base, chunk.length()).order(ByteOrder.LITTLE_ENDIAN);
        LongBuffer longs = bytes.asLongBuffer();
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
        Scan scan = new Scan(bitmap, hashes, n);
        for (int p = 0; p < pages && n > 0; p++) {
            if (scan.nonZero(p)) {
                findAnchors(bytes, longs, p, scan, anchorMask);
            }
        }
        return scan;
    }

    /** The byte that starts an anchor (any value would do; this one is rare in text and in zeroed structures). */
    static final byte ANCHOR_BYTE = (byte) 0xA5;
    /** Bytes an anchor's key covers, from the anchor on, inside its page. */
    static final int ANCHOR_KEY_BYTES = 16;
    /** At most this many anchors a page: a page of repeated bytes would otherwise have hundreds (and compresses anyway). */
    static final int MAX_ANCHORS = 16;
    /**
     * Anchors a write keeps at most, about: each costs ~44 bytes while the file is written (12 in its scan, 32 in the
     * table), ~4 a page of random bytes. A larger guest keeps a content-chosen part of them ({@link #anchorMask}), the
     * same part on every page, so splices are found less often but memory stays bounded (~180 MiB).
     */
    static final long MAX_TOTAL_ANCHORS = 1L << 22;
    private static final long ANCHOR_LANES = 0x0101010101010101L * (ANCHOR_BYTE & 0xff);
    private static final long LOW_BITS = 0x0101010101010101L;
    private static final long HIGH_BITS = 0x8080808080808080L;

    /** The key bits an anchor must have clear, for a write of {@code pages} pages: none up to {@link #MAX_TOTAL_ANCHORS}. */
    static long anchorMask(long pages) {
        long expected = pages * 4;
        long mask = 0;
        while (expected > MAX_TOTAL_ANCHORS) {
            expected >>= 1;
            mask = mask << 1 | 1;
        }
        return mask;
    }

    /**
     * Adds the anchors of page {@code p} to {@code scan}: each {@link #ANCHOR_BYTE} followed by a byte with its two top
     * bits clear (about one position in 1024 of random bytes), whose key fits in the page and has no bit of {@code mask}.
     * Eight bytes at a time: a word holds the byte where {@code v - 0x01..} borrows into a byte's top bit that {@code v}
     * lacks (the test can also flag a byte above a real one, so each flag is checked).
     */
    private static void findAnchors(ByteBuffer bytes, LongBuffer longs, int p, Scan scan, long mask) {
        int pageAt = p * Layout.PAGE_SIZE;
        int found = 0;
        for (int i = 0; i < PAGE_LONGS; i++) {
            long v = longs.get(p * PAGE_LONGS + i) ^ ANCHOR_LANES;
            long flags = (v - LOW_BITS) & ~v & HIGH_BITS;
            while (flags != 0) {
                int at = i * 8 + (Long.numberOfTrailingZeros(flags) >>> 3);
                flags &= flags - 1;
                if (at + ANCHOR_KEY_BYTES <= Layout.PAGE_SIZE && bytes.get(pageAt + at) == ANCHOR_BYTE && (bytes.get(pageAt + at + 1) & 0xc0) == 0) {
                    long key = anchorKey(bytes.getLong(pageAt + at), bytes.getLong(pageAt + at + 8));
                    if ((key & mask) != 0) {
                        continue;
                    }
                    scan.addAnchor(pageAt + at, key);
                    if (++found == MAX_ANCHORS) {
                        return;
                    }
                }
            }
        }
    }

    private static long anchorKey(long a, long b) {
        long h = (Long.rotateLeft(a * K, 31) ^ b) * M1;
        h ^= h >>> 33;
        h *= M2;
        return h ^ h >>> 33;
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

    /**
     * Chunks in address order: the first page with each hash is its source; later ones get it as candidate. A page
     * with no such twin looks for a splice of two source pages by its anchors; a source page's anchors go in (the
     * first page with each key keeps it).
     */
    static void assign(MemoryMap.Chunk[] chunks, Scan[] scans) {
        long nonZero = 0;
        long anchorCount = 0;
        for (Scan s : scans) {
            nonZero += s.nonZeroPages;
            anchorCount += s.anchors;
        }
        if (nonZero < 2) {
            return;
        }
        Splices splices = new Splices(chunks, scans, Math.max(1, anchorCount));
        LongMap first = new LongMap(nonZero);
        Candidates refs = new Candidates();
        Pending pending = null;
        for (int c = 0; c < chunks.length; c++) {
            Scan s = scans[c];
            if (s.nonZeroPages == 0) {
                continue;
            }
            int n = 0;
            int a = 0; // the first anchor of page p
            for (int p = 0; p < chunks[c].pages(); p++) {
                int pageAt = p * Layout.PAGE_SIZE;
                int anchorsEnd = a;
                while (anchorsEnd < s.anchors && s.anchorAt[anchorsEnd] < pageAt + Layout.PAGE_SIZE) {
                    anchorsEnd++;
                }
                if (s.nonZero(p)) {
                    long gpa = chunks[c].gpa() + pageAt;
                    long source = first.get(s.hashes[p]); // an aligned twin
                    long next = source;
                    int found = source >= 0 ? Splices.NONE : splices.find(gpa, s, a, anchorsEnd);
                    if (found == Splices.SPLICE) {
                        source = splices.head + splices.offset;
                        next = splices.tail;
                    }
                    if (pending != null && found != Splices.NONE) {
                        // The head of the next splice at a waiting page's offset is that page's tail.
                        if (splices.offset == pending.offset && splices.head != pending.head && splices.usable(splices.head, pending.gpa)) {
                            pending.tail = splices.head;
                        }
                        n = pending.resolve(splices, first, s, chunks[c].gpa(), n, refs);
                        pending = null;
                    }
                    if (found == Splices.HEAD) {
                        pending = new Pending(p, gpa, a, anchorsEnd, splices.head, splices.offset); // decided at the next splice
                        s.markCandidate(p);
                    } else if (source >= 0) {
                        n = refs.add(n, p, source, next);
                        s.markCandidate(p);
                    } else {
                        first.putIfAbsent(s.hashes[p], gpa);
                        splices.addAnchors(chunks[c].gpa(), s, a, anchorsEnd);
                    }
                }
                a = anchorsEnd;
            }
            if (pending != null) {
                n = pending.resolve(splices, first, s, chunks[c].gpa(), n, refs);
                pending = null;
            }
            if (n > 0) {
                s.refPages = Arrays.copyOf(refs.pages, n);
                s.refSources = Arrays.copyOf(refs.sources, n);
                s.refNext = Arrays.copyOf(refs.nexts, n);
            }
        }
    }

    /** The candidates of the chunk being assigned, page order (arrays grown as needed). */
    private static final class Candidates {
        int[] pages = new int[64];
        long[] sources = new long[64];
        long[] nexts = new long[64];

        int add(int n, int page, long source, long next) {
            if (n == pages.length) {
                pages = Arrays.copyOf(pages, n * 2);
                sources = Arrays.copyOf(sources, n * 2);
                nexts = Arrays.copyOf(nexts, n * 2);
            }
            pages[n] = page;
            sources[n] = source;
            nexts[n] = next;
            return n + 1;
        }
    }

    /**
     * A page whose head was found and its tail not: in a file repeated at another offset the next page's head is this
     * page's tail, so it waits for the next splice. Marked a candidate meanwhile, so nothing refers to it.
     */
    private static final class Pending {
        final int page;
        final long gpa;
        final int anchorsFrom;
        final int anchorsTo;
        final long head;
        final int offset;
        long tail = -1;

        Pending(int page, long gpa, int anchorsFrom, int anchorsTo, long head, int offset) {
            this.page = page;
            this.gpa = gpa;
            this.anchorsFrom = anchorsFrom;
            this.anchorsTo = anchorsTo;
            this.head = head;
            this.offset = offset;
        }

        /** A candidate with the tail found, or the head's next page; a source page after all when neither will do. */
        int resolve(Splices splices, LongMap first, Scan s, long chunkGpa, int n, Candidates refs) {
            long t = tail >= 0 ? tail : head + Layout.PAGE_SIZE;
            if (splices.usable(t, gpa)) {
                return refs.add(n, page, head + offset, t);
            }
            s.unmarkCandidate(page);
            first.putIfAbsent(s.hashes[page], gpa);
            splices.addAnchors(chunkGpa, s, anchorsFrom, anchorsTo);
            return n;
        }
    }

    /** The anchors of the source pages so far, and the search for a splice of two of them (one thread, in address order). */
    private static final class Splices {
        private static final int PAGE = Layout.PAGE_SIZE;
        private final MemoryMap.Chunk[] chunks;
        private final long[] chunkGpas;
        private final Scan[] scans;
        private final LongMap anchors;
        /** The last splice found: the page its end came from and its offset, which the next page of a file goes on from. */
        private long lastNext = -1;
        private int lastOffset = -1;
        /** The result of {@link #find}. */
        long head;
        long tail;
        int offset;

        Splices(MemoryMap.Chunk[] chunks, Scan[] scans, long expectedAnchors) {
            this.chunks = chunks;
            this.scans = scans;
            this.chunkGpas = Arrays.stream(chunks).mapToLong(MemoryMap.Chunk::gpa).toArray();
            this.anchors = new LongMap(expectedAnchors);
        }

        void addAnchors(long chunkGpa, Scan s, int from, int to) {
            for (int k = from; k < to; k++) {
                anchors.putIfAbsent(s.anchorKey[k], chunkGpa + s.anchorAt[k]);
            }
        }

        /** What {@link #find} found: nothing, both parts (or a whole page at offset 0), or the head alone (the tail to come). */
        static final int NONE = 0, SPLICE = 1, HEAD = 2;

        /**
         * Looks for the page at {@code gpa} (anchors {@code [from, to)} of {@code s}) as the end of one source page from
         * some offset and the start of another: each anchor found says which page and where its part came from (a head
         * part when the page's first byte falls inside that page, a tail part when it falls before it). A tail without a
         * head found takes as head the page the last splice at that offset ended in, or else the page before the tail's;
         * a head without a tail is {@link #HEAD}, for the caller to complete. Sets {@link #head}, {@link #tail},
         * {@link #offset}.
         */
        int find(long gpa, Scan s, int from, int to) {
            head = -1;
            tail = -1;
            offset = -1;
            for (int k = from; k < to; k++) {
                long seen = anchors.get(s.anchorKey[k]);
                if (seen < 0) {
                    continue;
                }
                long page = seen - seen % PAGE;
                int shift = (int) (seen - page) - s.anchorAt[k] % PAGE; // where the page's first byte is, relative to page
                int off = shift >= 0 ? shift : PAGE + shift;
                if (offset >= 0 && off != offset) {
                    continue; // another alignment: a different repeat, or a key seen by chance
                }
                offset = off;
                if (shift >= 0) {
                    head = head < 0 ? page : head;
                } else {
                    tail = tail < 0 ? page : tail;
                }
            }
            if (offset < 0) {
                return NONE;
            }
            if (offset == 0) {
                tail = head; // the whole page, aligned: a twin the sampled hash did not see (checked byte for byte anyway)
            } else if (head < 0) {
                head = offset == lastOffset && usable(lastNext, gpa) ? lastNext : tail - PAGE;
            }
            if (!usable(head, gpa) || tail >= 0 && !usable(tail, gpa)) {
                return NONE;
            }
            if (tail < 0) {
                return HEAD;
            }
            ended(tail, offset);
            return SPLICE;
        }

        /** A splice at {@code offset} ended in page {@code tail}: the next page of its file starts there. */
        private void ended(long tail, int offset) {
            lastNext = tail;
            lastOffset = offset;
        }

        /** A page that will be stored, before {@code gpa}. */
        boolean usable(long page, long gpa) {
            if (page < 0 || page >= gpa) {
                return false;
            }
            int c = ChunkAccess.chunkOf(page, chunkGpas, chunks);
            return c >= 0 && scans[c].source((int) ((page - chunks[c].gpa()) / PAGE));
        }
    }

    /** The pages of every candidate of every scan (two for a splice), sorted, each once: what the encoder reads again later. */
    static long[] sources(Scan[] scans) {
        return Arrays.stream(scans).flatMapToLong(s -> java.util.stream.LongStream.concat(
                        Arrays.stream(s.refSources).map(g -> g - g % Layout.PAGE_SIZE), Arrays.stream(s.refNext)))
                .sorted().distinct().toArray();
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

        /** The value mapped to {@code key}, or -1. */
        long get(long key) {
            for (int i = (int) (key ^ key >>> 32) & mask; ; i = i + 1 & mask) {
                long v = values[i];
                if (v == 0) {
                    return -1;
                }
                if (keys[i] == key) {
                    return v - 1;
                }
            }
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
