package dev.stasis.devices.virtio.blk;

import dev.stasis.snapshot.container.ZeroPage;
import java.nio.ByteBuffer;
import net.jpountz.xxhash.XXHash64;
import net.jpountz.xxhash.XXHashFactory;

/**
 * A fingerprint of a disk's content that writes keep up to date, so a snapshot takes it in no time instead of reading
 * the disk: the sum, in two 64-bit lanes, over every 4 KiB block that is not all zeros, of XXH64 of the block seeded
 * by its number (one seed per lane). A change of any byte changes it but with odds of 2^-128; a hole and a written
 * zero block are alike. Each block's terms are kept (in 1 MiB regions, allocated where a block holds data: memory
 * grows with the data, 16 bytes per 4 KiB block, not with the disk's size), so a write replaces a block's terms from
 * the bytes it writes, without reading what was there.
 */
final class ContentHash {
    static final int BLOCK = 4096;
    private static final int REGION_BLOCKS = 256;
    private static final XXHash64 XXH = XXHashFactory.fastestInstance().hash64();
    private static final long SEED_A = 0x9E3779B97F4A7C15L, SEED_B = 0xC2B2AE3D27D4EB4FL;

    private final long[][] terms; // per region: a, b of each block, interleaved; null while all zero
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
            put(n, zero ? 0 : XXH.hash(buf, at, len, SEED_A ^ n), zero ? 0 : XXH.hash(buf, at, len, SEED_B + n * 0x165667B19E3779F9L));
        }
    }

    /** Blocks {@code [first, first + count)} are now all zeros. */
    void clear(long first, long count) {
        for (long n = first; n < first + count; n++) {
            put(n, 0, 0);
        }
    }

    private void put(long n, long ta, long tb) {
        int r = (int) (n / REGION_BLOCKS);
        int i = (int) (n % REGION_BLOCKS) * 2;
        long[] region = terms[r];
        if (region == null) {
            if (ta == 0 && tb == 0) {
                return;
            }
            region = terms[r] = new long[2 * REGION_BLOCKS];
        }
        a += ta - region[i];
        b += tb - region[i + 1];
        region[i] = ta;
        region[i + 1] = tb;
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
