package dev.stasis.forensics.x86;

import java.util.List;

/**
 * Where a linear address lives: its guest-physical address, the size of the page holding it, and the entries
 * the walk went through (for {@code --json} and error messages).
 */
public record Translation(long vaddr, long gpa, long pageSize, PagingMode mode, List<Step> steps) {
    public Translation {
        steps = List.copyOf(steps);
    }

    /** One table entry read: its level, index within its table, where it is, and its value. */
    public record Step(String level, int index, long entryGpa, long entry) {}
}
