package dev.stasis.migrate.postcopy;

import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.util.List;

/**
 * A set of guest pages as it travels in POSTCOPY and NEED: for each RAM range in layout order, the word count
 * and then one bit per page (bit i of word i/64 for page i of the range). Decoding checks it against the
 * guest's own layout: the same ranges, the exact word counts, no page past a range's end.
 */
public final class PageSet {
    private PageSet() {}

    public static void encode(Encoder e, long[][] pages) {
        e.varUnsigned(pages.length);
        for (long[] range : pages) {
            e.varUnsigned(range.length);
            for (long w : range) {
                e.u64(w);
            }
        }
    }

    /** Throws {@link dev.stasis.snapshot.SnapshotFormatException} for a set that does not fit {@code layout}. */
    public static long[][] decode(Decoder d, MemoryLayout layout) {
        List<MemoryRange> ranges = layout.ranges();
        int n = d.varInt("range count", ranges.size());
        if (n != ranges.size()) {
            throw d.malformed("a page set of " + n + " ranges for a guest with " + ranges.size());
        }
        long[][] out = new long[n][];
        for (int i = 0; i < n; i++) {
            long pages = ranges.get(i).size() / Protocol.PAGE_SIZE;
            int words = (int) ((pages + 63) / 64);
            int count = d.varInt("word count", words);
            if (count != words) {
                throw d.malformed("range " + i + ": " + count + " words for " + pages + " pages");
            }
            out[i] = new long[words];
            for (int w = 0; w < words; w++) {
                out[i][w] = d.u64("page bits");
            }
            if (pages % 64 != 0 && out[i][words - 1] >>> (pages % 64) != 0) {
                throw d.malformed("range " + i + ": the set names pages past the range's end");
            }
        }
        return out;
    }
}
