package dev.stasis.loader.multiboot;

import dev.stasis.loader.BiosMemoryMap;
import java.util.List;

/**
 * The Multiboot 1 information structure (specification section 3.3) and what it points to: memory sizes, the
 * memory map (the e820 view Linux gets), the command line, the modules and the boot loader's name.
 */
final class Multiboot1Info {
    private Multiboot1Info() {}

    static final int FLAG_MEMORY = 1, FLAG_CMDLINE = 1 << 2, FLAG_MODULES = 1 << 3, FLAG_MMAP = 1 << 6, FLAG_LOADER_NAME = 1 << 9;
    private static final int STRUCT_SIZE = 120;

    static byte[] build(long base, List<BiosMemoryMap.Entry> memmap, String cmdline, List<Module.Placed> modules, String loaderName) {
        InfoBuilder b = new InfoBuilder(base);
        for (int i = 0; i < STRUCT_SIZE / 4; i++) {
            b.u32(0);
        }
        long mmap = b.here();
        for (BiosMemoryMap.Entry e : memmap) {
            b.u32(20).u64(e.addr()).u64(e.size()).u32(e.type());
        }
        long mmapLength = b.here() - mmap;
        long mods = b.here();
        for (int i = 0; i < modules.size(); i++) {
            b.u32(0).u32(0).u32(0).u32(0);
        }
        long commandLine = b.string(cmdline);
        long name = b.string(loaderName);
        for (int i = 0; i < modules.size(); i++) {
            Module.Placed m = modules.get(i);
            long string = b.string(m.string());
            b.patch32(mods + 16L * i, m.start());
            b.patch32(mods + 16L * i + 4, m.end());
            b.patch32(mods + 16L * i + 8, string);
        }
        b.patch32(base, FLAG_MEMORY | FLAG_CMDLINE | FLAG_MODULES | FLAG_MMAP | FLAG_LOADER_NAME);
        b.patch32(base + 4, MultibootMemory.lowerKib(memmap));
        b.patch32(base + 8, MultibootMemory.upperKib(memmap));
        b.patch32(base + 16, commandLine);
        b.patch32(base + 20, modules.size());
        b.patch32(base + 24, mods);
        b.patch32(base + 44, mmapLength);
        b.patch32(base + 48, mmap);
        b.patch32(base + 64, name);
        return b.align(8).bytes();
    }
}
