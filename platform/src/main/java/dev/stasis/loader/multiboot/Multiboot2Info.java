package dev.stasis.loader.multiboot;

import dev.stasis.loader.BiosMemoryMap;
import java.util.List;
import java.util.Map;

/**
 * The Multiboot 2 boot information (specification section 3.6): total size, then 8-byte aligned tags: command
 * line, boot loader name, one per module, basic memory information, the memory map, and the end tag.
 */
final class Multiboot2Info {
    private Multiboot2Info() {}

    static final int TAG_END = 0, TAG_CMDLINE = 1, TAG_LOADER_NAME = 2, TAG_MODULE = 3, TAG_BASIC_MEMINFO = 4, TAG_MMAP = 6;

    /** The information tags stasis gives, by type, for refusing a kernel that requests others. */
    static final Map<Integer, String> PROVIDED = Map.of(TAG_CMDLINE, "command line", TAG_LOADER_NAME, "boot loader name",
            TAG_MODULE, "modules", TAG_BASIC_MEMINFO, "basic memory information", TAG_MMAP, "memory map");

    static byte[] build(long base, List<BiosMemoryMap.Entry> memmap, String cmdline, List<Module.Placed> modules, String loaderName) {
        InfoBuilder b = new InfoBuilder(base);
        b.u32(0).u32(0); // total size, patched below; reserved
        stringTag(b, TAG_CMDLINE, cmdline);
        stringTag(b, TAG_LOADER_NAME, loaderName);
        for (Module.Placed m : modules) {
            long start = b.here();
            b.u32(TAG_MODULE).u32(0).u32(m.start()).u32(m.end());
            b.string(m.string());
            b.patch32(start + 4, b.here() - start);
            b.align(8);
        }
        b.u32(TAG_BASIC_MEMINFO).u32(16).u32(MultibootMemory.lowerKib(memmap)).u32(MultibootMemory.upperKib(memmap));
        b.u32(TAG_MMAP).u32(16 + 24L * memmap.size()).u32(24).u32(0);
        for (BiosMemoryMap.Entry e : memmap) {
            b.u64(e.addr()).u64(e.size()).u32(e.type()).u32(0);
        }
        b.u32(TAG_END).u32(8);
        b.patch32(base, b.here() - base);
        return b.bytes();
    }

    private static void stringTag(InfoBuilder b, int type, String text) {
        long start = b.here();
        b.u32(type).u32(0);
        b.string(text);
        b.patch32(start + 4, b.here() - start);
        b.align(8);
    }
}
