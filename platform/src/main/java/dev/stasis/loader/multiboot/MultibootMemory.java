package dev.stasis.loader.multiboot;

import dev.stasis.loader.BiosMemoryMap;
import java.util.List;

/** mem_lower and mem_upper: KiB of RAM from 0, and from 1 MiB up to the first hole, as the memory map says. */
final class MultibootMemory {
    private MultibootMemory() {}

    static long lowerKib(List<BiosMemoryMap.Entry> memmap) {
        return memmap.get(0).size() / 1024;
    }

    static long upperKib(List<BiosMemoryMap.Entry> memmap) {
        for (BiosMemoryMap.Entry e : memmap) {
            if (e.addr() == BiosMemoryMap.HIGH_MEMORY && e.type() == BiosMemoryMap.TYPE_RAM) {
                return Math.min(e.size() / 1024, 0xffffffffL);
            }
        }
        return 0;
    }
}
