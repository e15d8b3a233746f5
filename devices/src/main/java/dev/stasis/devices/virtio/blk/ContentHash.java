package dev.stasis.devices.virtio.blk;

import dev.stasis.snapshot.container.ZeroPage;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A fingerprint of a disk's content that writes keep up to date, so a snapshot takes it in no time instead of reading
 * the disk: over every 4 KiB block that is not all zeros, h = XXH64 of the block seeded by its number, and the sums
 * of two 64-bit mixes of h, one per lane. A change of any byte changes it but with odds of about 2^-64 per block; a
 * hole and a written zero block are alike. Each block's h is kept (in 1 MiB regions, allocated where a block holds
 * data: 8 bytes per 4 KiB block of data, 0.2%, not per block of the disk), so a write replaces a block's terms from
 * the bytes it writes, without reading what was there.
 */
final class ContentHash {
    static final int BLOCK = 4096;
    private static final int REGION_BLOCKS = 256;
    private static final XXHash64 XXH = XXHashFactory.fastestInstance().hash64();
    private static final long SEED = 0x9E3779B97F4A7C15L;

    private final long[][] terms; // per region: h of each block, 0 for a zero block; null while all zero
    /** Blocks whose h is not in {@link #terms} yet, though the lanes hold it (a disk started from a saved fingerprint); null: none. */
    private long[] unknown;
    private long a;
    private long b;

    ContentHash(long size) {
        long blocks = (size + BLOCK - 1) / BLOCK;
        terms = new long[(int) ((blocks + REGION_BLOCKS - 1) / REGION_BLOCKS)][];
    }

    /**
     * Starts from a saved fingerprint ({@link #value}) of content this object has not read: the lanes are taken as they
     * are, and every block's own h is unknown until {@link #adopt} gives it (before a write replaces the block).
     */
    void startFrom(byte[] fingerprint, long blocks) {
        ByteBuffer f = ByteBuffer.wrap(fingerprint).order(ByteOrder.LITTLE_ENDIAN);
        a = f.getLong(8);
        b = f.getLong(16);
        unknown = new long[(int) ((blocks + 63) / 64)];
        Arrays.fill(unknown, -1L);
    }

    /** True when this started from a saved fingerprint, so some blocks may still need {@link #adopt}. */
    boolean startedFromSaved() {
        return unknown != null;
    }

    /** True when block {@code n}'s h must be {@link #adopt}ed before the block changes. */
    boolean unknown(long n) {
        return unknown != null && (unknown[(int) (n >>> 6)] & 1L << n) != 0;
    }

    /** Block {@code n} holds {@code block} (as the saved fingerprint counted it): its h is kept, the lanes stay. */
    void adopt(long n, ByteBuffer block) {
        long h = termOf(block, 0, block.remaining(), n);
        unknown[(int) (n >>> 6)] &= ~(1L << n);
        if (h != 0) {
            int r = (int) (n / REGION_BLOCKS);
            if (terms[r] == null) {
                terms[r] = new long[REGION_BLOCKS];
            }
            terms[r][(int) (n % REGION_BLOCKS)] = h;
        }
    }

    /** Block {@code n}'s term when it holds {@code block} (position to limit, a block or the disk's short last one). */
    static long term(ByteBuffer block, long n) {
        return termOf(block, 0, block.remaining(), n);
    }

    private static long termOf(ByteBuffer buf, int at, int len, long n) {
        ByteBuffer block = buf.slice(buf.position() + at, len);
        boolean zero = len == BLOCK ? ZeroPage.isZero(block) : isZero(block);
        if (zero) {
            return 0;
        }
        long h = XXH.hash(buf, buf.position() + at, len, SEED ^ n);
        return h != 0 ? h : 1; // 0 means a zero block
    }

    /** Block {@code first} and those after it now hold {@code buf} (position to limit; the last block may be short). */
    void set(ByteBuffer buf, long first) {
        for (int at = 0, k = 0; at < buf.remaining(); at += BLOCK, k++) {
            put(first + k, termOf(buf, at, Math.min(BLOCK, buf.remaining() - at), first + k));
        }
    }

    /** Blocks {@code [first, first + count)} are now all zeros. */
    void clear(long first, long count) {
        for (long n = first; n < first + count; n++) {
            put(n, 0);
        }
    }

    private void put(long n, long h) {
        int r = (int) (n / REGION_BLOCKS);
        int i = (int) (n % REGION_BLOCKS);
        long[] region = terms[r];
        if (region == null) {
            if (h == 0) {
                return;
            }
            region = terms[r] = new long[REGION_BLOCKS];
        }
        long old = region[i];
        a += laneA(h) - laneA(old);
        b += laneB(h) - laneB(old);
        region[i] = h;
    }

    /** Two 64-bit mixes of h (MurmurHash3's and SplitMix64's finalizers); 0 for a zero block. */
    private static long laneA(long h) {
        if (h == 0) {
            return 0;
        }
        h ^= h >>> 33;
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        h *= 0xc4ceb9fe1a85ec53L;
        return h ^ (h >>> 33);
    }

    private static long laneB(long h) {
        if (h == 0) {
            return 0;
        }
        h = (h ^ (h >>> 30)) * 0xbf58476d1ce4e5b9L;
        h = (h ^ (h >>> 27)) * 0x94d049bb133111ebL;
        return h ^ (h >>> 31);
    }

    private static boolean isZero(ByteBuffer b) {
        for (int i = 0; i < b.remaining(); i++) {
            if (b.get(i) != 0) {
                return false;
            }
        }
        return true;
    }

    /** The fingerprint of a disk of {@code size} bytes with this content: size, then the two lanes, little-endian. */
    byte[] value(long size) {
        return ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(size).putLong(a).putLong(b).array();
    }
}
