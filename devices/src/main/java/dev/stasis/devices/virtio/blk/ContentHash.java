package dev.stasis.devices.virtio.blk;

import dev.stasis.snapshot.container.ZeroPage;
import java.nio.ByteBuffer;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

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
    private long a;
    private long b;

    ContentHash(long size) {
        long blocks = (size + BLOCK - 1) / BLOCK;
        terms = new long[(int) ((blocks + REGION_BLOCKS - 1) / REGION_BLOCKS)][];
    }

    /** Block {@code first} and those after it now hold {@code buf} (position to limit; the last block may be short). */
    void set(ByteBuffer buf, long first) {
        int start = buf.position();
        for (int at = start, k = 0; at < buf.limit(); at += BLOCK, k++) {
            int len = Math.min(BLOCK, buf.limit() - at);
            ByteBuffer block = buf.slice(at, len);
            long n = first + k;
            boolean zero = len == BLOCK ? ZeroPage.isZero(block) : isZero(block);
            long h = zero ? 0 : XXH.hash(buf, at, len, SEED ^ n);
            put(n, zero || h != 0 ? h : 1); // 0 means a zero block
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
        return ByteBuffer.allocate(24).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(size).putLong(a).putLong(b).array();
    }
}
