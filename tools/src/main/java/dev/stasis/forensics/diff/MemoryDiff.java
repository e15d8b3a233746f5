package dev.stasis.forensics.diff;

import dev.stasis.snapshot.container.RamRange;
import java.util.List;

/**
 * How two snapshots' RAM differs: pages compared (those in both files), pages that differ, and the differing
 * pages coalesced into ranges; RAM present in one file only is listed apart and not counted as differing pages.
 */
public record MemoryDiff(int pageSize, long pagesCompared, long pagesDiffer, List<RamRange> differing,
                         List<RamRange> onlyInA, List<RamRange> onlyInB) {
    public MemoryDiff {
        differing = List.copyOf(differing);
        onlyInA = List.copyOf(onlyInA);
        onlyInB = List.copyOf(onlyInB);
    }

    public static MemoryDiff none() {
        return new MemoryDiff(4096, 0, 0, List.of(), List.of(), List.of());
    }

    public boolean isEmpty() {
        return pagesDiffer == 0 && onlyInA.isEmpty() && onlyInB.isEmpty();
    }
}
