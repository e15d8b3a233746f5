package dev.stasis.loader;

import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import java.util.ArrayList;
import java.util.List;

/**
 * The memory map a PC firmware reports (E820), derived from a {@link MemoryLayout}; Linux reads it from
 * {@code boot_params} and PVH guests from {@code hvm_start_info}, which use the same type numbers.
 *
 * <p>Low RAM must start at 0 and reach past 1 MiB. Its top below 640 KiB, from {@link #EBDA_START}, and the
 * legacy VGA/ROM area up to 1 MiB are reported reserved, as a PC's BIOS does, so the guest keeps out of what
 * it expects to be firmware; every other range of the layout is usable RAM. The MMIO hole is simply absent.
 */
public final class BiosMemoryMap {
    private BiosMemoryMap() {}

    public static final int TYPE_RAM = 1;
    public static final int TYPE_RESERVED = 2;
    /** Where a PC's extended BIOS data area would start: 639 KiB. */
    public static final long EBDA_START = 0x9fc00;
    public static final long HIGH_MEMORY = 0x100000;

    public record Entry(long addr, long size, int type) {}

    public static List<Entry> of(MemoryLayout layout) {
        MemoryRange low = layout.ranges().get(0);
        if (low.gpa() != 0 || low.end() <= HIGH_MEMORY) {
            throw new IllegalArgumentException("a kernel needs RAM from address 0 to beyond 1 MiB; guest RAM is " + layout.ranges());
        }
        List<Entry> entries = new ArrayList<>();
        entries.add(new Entry(0, EBDA_START, TYPE_RAM));
        entries.add(new Entry(EBDA_START, HIGH_MEMORY - EBDA_START, TYPE_RESERVED));
        entries.add(new Entry(HIGH_MEMORY, low.end() - HIGH_MEMORY, TYPE_RAM));
        for (MemoryRange r : layout.ranges().subList(1, layout.ranges().size())) {
            entries.add(new Entry(r.gpa(), r.size(), TYPE_RAM));
        }
        return entries;
    }
}
