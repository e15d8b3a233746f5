package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;

/**
 * The flat GDT every loader places in low memory: a 64-bit code segment, a data segment and a 32-bit
 * code segment, all base 0 and limit 4 GiB. The VMM loads the hidden segment state to match.
 */
public final class BootGdt {
    private BootGdt() {}

    public static final long BASE = 0x500;
    public static final int CODE64 = 0x08;
    public static final int DATA = 0x10;
    public static final int CODE32 = 0x18;
    public static final int LIMIT = 4 * 8 - 1;

    /** Descriptor words, indexed by selector / 8. */
    public static final long[] DESCRIPTORS = {
        0L,
        0x00af9b000000ffffL, // code, 64-bit (L=1), present, accessed
        0x00cf93000000ffffL, // data, read/write, 4 GiB, accessed
        0x00cf9b000000ffffL, // code, 32-bit (D=1), 4 GiB, accessed
    };

    public static void write(GuestMemory memory) {
        for (int i = 0; i < DESCRIPTORS.length; i++) {
            memory.putLong(BASE + 8L * i, DESCRIPTORS[i]);
        }
    }
}
