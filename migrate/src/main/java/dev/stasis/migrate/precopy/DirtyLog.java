package dev.stasis.migrate.precopy;

import dev.stasis.memory.MemoryRange;
import dev.stasis.vm.Vm;
import java.util.List;

/**
 * Which guest pages changed, from KVM's dirty log of each memory slot (slot i = layout range i). The log
 * exists only while {@link Vm#setDirtyLogging} has it on (the migration sender turns it on for the length
 * of a migration); {@link #collect} without it fails with KVM's ENOENT. {@code KVM_GET_DIRTY_LOG} returns the pages written since the previous
 * call and write-protects them again, so each {@link #collect} is one round's worth. The pages the VMM wrote
 * itself (devices, through {@code GuestMemory.writtenPages()}), which KVM's log does not see, are added in.
 */
public final class DirtyLog {
    private final Vm vm;
    private final List<MemoryRange> ranges;

    public DirtyLog(Vm vm) {
        this.vm = vm;
        this.ranges = vm.memory().layout().ranges();
    }

    /** One bitmap per slot of the pages dirtied since the last call (bit i of word i/64 = page i). */
    public long[][] collect() {
        long[][] vmm = vm.memory().writtenPages().drain(); // first: a page written in between is in the next round
        long[][] maps = new long[ranges.size()][];
        for (int slot = 0; slot < maps.length; slot++) {
            maps[slot] = vm.vmFd().getDirtyLog(slot, ranges.get(slot).size() / 4096);
        }
        or(maps, vmm);
        return maps;
    }

    /** Every page of every slot, for the first round. */
    public long[][] all() {
        long[][] maps = new long[ranges.size()][];
        for (int slot = 0; slot < maps.length; slot++) {
            long pages = ranges.get(slot).size() / 4096;
            long[] m = new long[(int) ((pages + 63) / 64)];
            java.util.Arrays.fill(m, -1L);
            if (pages % 64 != 0) {
                m[m.length - 1] = (1L << (pages % 64)) - 1;
            }
            maps[slot] = m;
        }
        return maps;
    }

    public static long count(long[][] maps) {
        long n = 0;
        for (long[] m : maps) {
            for (long w : m) {
                n += Long.bitCount(w);
            }
        }
        return n;
    }

    /** {@code a |= b}. */
    public static void or(long[][] a, long[][] b) {
        for (int s = 0; s < a.length; s++) {
            for (int i = 0; i < a[s].length; i++) {
                a[s][i] |= b[s][i];
            }
        }
    }
}
