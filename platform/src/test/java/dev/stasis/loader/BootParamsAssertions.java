package dev.stasis.loader;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.stasis.memory.GuestMemory;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Reads back what the kernel loaders wrote, the way a guest would. */
final class BootParamsAssertions {
    private BootParamsAssertions() {}

    static String cString(GuestMemory memory, long address, int max) {
        byte[] bytes = memory.read(address, max);
        int length = 0;
        while (bytes[length] != 0) {
            length++;
        }
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
    }

    /** Table entries as (addr, size, type) at {@code stride} bytes each. */
    static void assertMemoryMap(List<BiosMemoryMap.Entry> expected, GuestMemory memory, long table, int count, int stride) {
        assertEquals(expected.size(), count, "entry count");
        for (int i = 0; i < count; i++) {
            long at = table + (long) i * stride;
            assertEquals(expected.get(i), new BiosMemoryMap.Entry(memory.getLong(at), memory.getLong(at + 8), memory.getInt(at + 16)), "entry " + i);
        }
    }
}
