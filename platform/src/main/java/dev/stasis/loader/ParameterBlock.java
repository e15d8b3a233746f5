package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;
import java.util.List;

/**
 * The page through which the VMM tells a flat test guest about its machine and its parameters.
 *
 * <pre>
 * 0x00 u64 magic "STASPARM" (0x4d52415053415453)
 * 0x08 u32 version (1)
 * 0x0c u32 vCPU count
 * 0x10 u64 RAM size in bytes
 * 0x18 u64 TSC frequency in kHz
 * 0x20 u32 parameter count
 * 0x40 u64 parameter values, in the order the guest declares them
 * </pre>
 */
public final class ParameterBlock {
    private ParameterBlock() {}

    public static final long ADDRESS = 0x7000;
    public static final long MAGIC = 0x4d52415053415453L;
    public static final int VERSION = 1;
    public static final int VALUES_OFFSET = 0x40;
    public static final int MAX_VALUES = (4096 - VALUES_OFFSET) / 8;

    public static void write(GuestMemory memory, int vcpus, long tscKhz, List<Long> values) {
        if (values.size() > MAX_VALUES) {
            throw new IllegalArgumentException("at most " + MAX_VALUES + " guest parameters, got " + values.size());
        }
        memory.zero(ADDRESS, 4096);
        memory.putLong(ADDRESS, MAGIC);
        memory.putInt(ADDRESS + 0x08, VERSION);
        memory.putInt(ADDRESS + 0x0c, vcpus);
        memory.putLong(ADDRESS + 0x10, memory.size());
        memory.putLong(ADDRESS + 0x18, tscKhz);
        memory.putInt(ADDRESS + 0x20, values.size());
        for (int i = 0; i < values.size(); i++) {
            memory.putLong(ADDRESS + VALUES_OFFSET + 8L * i, values.get(i));
        }
    }
}
