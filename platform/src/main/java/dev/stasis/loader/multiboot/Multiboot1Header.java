package dev.stasis.loader.multiboot;

import dev.stasis.loader.InvalidImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The Multiboot (version 1) header: magic 0x1BADB002, flags and checksum, 32-bit aligned in the first 8 KiB of
 * the image, optionally followed by load addresses (flag 16). Flags 0-15 are requirements: a loader that cannot
 * meet one must refuse the kernel. stasis meets 0 (page-aligned modules) and 1 (memory information), not 2 (a
 * video mode: there is no display).
 */
record Multiboot1Header(int offset, int flags, KernelImage.AddressFields addresses, long entryAddr) {
    static final int MAGIC = 0x1BADB002;
    static final int BOOTLOADER_MAGIC = 0x2BADB002;
    static final int SEARCH = 8192;
    static final int FLAG_PAGE_ALIGN = 1, FLAG_MEMORY_INFO = 1 << 1, FLAG_VIDEO_MODE = 1 << 2, FLAG_ADDRESSES = 1 << 16;

    /** The header, or null when the image has none; a header whose checksum does not add up is refused. */
    static Multiboot1Header find(byte[] image) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + 12 <= Math.min(image.length, SEARCH); at += 4) {
            if (b.getInt(at) != MAGIC) {
                continue;
            }
            int flags = b.getInt(at + 4);
            int checksum = b.getInt(at + 8);
            if (MAGIC + flags + checksum != 0) {
                throw new InvalidImageException(String.format("Multiboot header at offset 0x%x: checksum 0x%08x does not add up "
                        + "(magic + flags + checksum = 0x%08x, must be 0)", at, checksum, MAGIC + flags + checksum));
            }
            if ((flags & FLAG_VIDEO_MODE) != 0) {
                throw new InvalidImageException("the Multiboot kernel requires a video mode (header flag 2); stasis has no display, only a serial console");
            }
            int unknown = flags & 0xffff & ~(FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO);
            if (unknown != 0) {
                throw new InvalidImageException(String.format("the Multiboot kernel requires features stasis does not know (header flags 0x%x)", unknown));
            }
            if ((flags & FLAG_ADDRESSES) == 0) {
                return new Multiboot1Header(at, flags, null, 0);
            }
            if (at + 32 > image.length) {
                throw new InvalidImageException("Multiboot header at offset 0x" + Integer.toHexString(at) + ": flag 16 is set but the address fields are cut off");
            }
            var a = new KernelImage.AddressFields(u32(b, at + 12), u32(b, at + 16), u32(b, at + 20), u32(b, at + 24));
            return new Multiboot1Header(at, flags, a, u32(b, at + 28));
        }
        return null;
    }

    KernelImage kernel(byte[] image) {
        return addresses == null ? KernelImage.fromElf(image, 0) : KernelImage.fromAddresses(image, offset, addresses, entryAddr);
    }

    private static long u32(ByteBuffer b, int at) {
        return Integer.toUnsignedLong(b.getInt(at));
    }
}
