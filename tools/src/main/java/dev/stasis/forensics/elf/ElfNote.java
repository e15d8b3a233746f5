package dev.stasis.forensics.elf;

import java.nio.charset.StandardCharsets;

/** One ELF note: owner name (e.g. "CORE"), type, and descriptor bytes. */
public record ElfNote(String name, int type, byte[] desc) {
    /** Bytes in a PT_NOTE segment: 12-byte header, NUL-terminated name and descriptor, each padded to 4. */
    int encodedSize() {
        return 12 + pad4(name.getBytes(StandardCharsets.US_ASCII).length + 1) + pad4(desc.length);
    }

    static int pad4(int n) {
        return (n + 3) & ~3;
    }
}
