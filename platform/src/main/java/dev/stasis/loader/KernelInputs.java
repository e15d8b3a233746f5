package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import java.nio.charset.StandardCharsets;

/** What the Linux and PVH loaders hand a kernel besides the kernel itself: a command line and an initrd. */
final class KernelInputs {
    private KernelInputs() {}

    static final long PAGE = 4096;

    /** The command line as the kernel reads it: bytes, then a NUL; at most {@code maxLength} bytes before the NUL. */
    static byte[] commandLine(String cmdline, long maxLength) {
        byte[] text = cmdline.getBytes(StandardCharsets.UTF_8);
        if (cmdline.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("the kernel command line contains a NUL character");
        }
        if (text.length > maxLength) {
            throw new IllegalArgumentException("the kernel command line is " + text.length + " bytes, the kernel accepts at most " + maxLength);
        }
        byte[] out = new byte[text.length + 1];
        System.arraycopy(text, 0, out, 0, text.length);
        return out;
    }

    /**
     * Where an initrd of {@code size} bytes goes: page-aligned, as high as possible in the RAM range that starts at
     * 0, ending at or below {@code ceiling} (exclusive), and not below {@code floor} (the end of the kernel).
     */
    static long initrdAddress(GuestMemory memory, long size, long floor, long ceiling) {
        MemoryRange low = memory.layout().ranges().get(0);
        long top = Math.min(low.end(), ceiling);
        long address = (top - size) & -PAGE;
        if (size > top || address < floor) {
            throw new IllegalArgumentException(String.format(
                    "the initrd (%d bytes) does not fit between the kernel's end 0x%x and 0x%x in guest RAM %s", size, floor, top, memory.layout().ranges()));
        }
        return address;
    }
}
