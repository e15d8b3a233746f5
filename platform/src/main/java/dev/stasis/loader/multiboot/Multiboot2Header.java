package dev.stasis.loader.multiboot;

import dev.stasis.loader.InvalidImageException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * The Multiboot 2 header: magic 0xE85250D6, architecture (0 = i386), length and checksum, 64-bit aligned in the
 * first 32 KiB, then tags (type, flags, size; flag bit 0 = optional) up to an end tag. Tags stasis cannot honour
 * (a framebuffer, a console, EFI) are refused unless optional, by name; an information request for a tag stasis
 * does not provide likewise.
 */
record Multiboot2Header(int offset, KernelImage.AddressFields addresses, long entryAddr) {
    static final int MAGIC = 0xE85250D6;
    static final int BOOTLOADER_MAGIC = 0x36d76289;
    static final int SEARCH = 32768;
    static final int TAG_END = 0, TAG_INFO_REQUEST = 1, TAG_ADDRESS = 2, TAG_ENTRY = 3, TAG_CONSOLE = 4, TAG_FRAMEBUFFER = 5,
            TAG_MODULE_ALIGN = 6, TAG_EFI_BS = 7, TAG_EFI32_ENTRY = 8, TAG_EFI64_ENTRY = 9, TAG_RELOCATABLE = 10;

    /** Header tags stasis cannot meet, by type. */
    private static final Map<Integer, String> UNSUPPORTED = Map.of(TAG_FRAMEBUFFER, "a framebuffer (video mode)",
            TAG_EFI_BS, "EFI boot services", TAG_EFI32_ENTRY, "an EFI i386 entry", TAG_EFI64_ENTRY, "an EFI amd64 entry");

    /** The header, or null when the image has none; a malformed one is refused naming what is wrong. */
    static Multiboot2Header find(byte[] image) {
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        for (int at = 0; at + 16 <= Math.min(image.length, SEARCH); at += 8) {
            if (b.getInt(at) != MAGIC) {
                continue;
            }
            int arch = b.getInt(at + 4), length = b.getInt(at + 8), checksum = b.getInt(at + 12);
            String where = String.format("Multiboot 2 header at offset 0x%x", at);
            if (MAGIC + arch + length + checksum != 0) {
                throw new InvalidImageException(String.format("%s: checksum 0x%08x does not add up (magic + architecture + length + checksum = 0x%08x, must be 0)",
                        where, checksum, MAGIC + arch + length + checksum));
            }
            if (arch != 0) {
                throw new InvalidImageException(where + ": architecture " + arch + " is not i386 (0)");
            }
            if (length < 24 || (long) at + length > image.length) {
                throw new InvalidImageException(where + ": length " + Integer.toUnsignedString(length) + " does not fit the file");
            }
            return tags(b, at, length, where);
        }
        return null;
    }

    private static Multiboot2Header tags(ByteBuffer b, int at, int length, String where) {
        KernelImage.AddressFields addresses = null;
        long entry = 0;
        int t = at + 16;
        while (true) {
            if (t + 8 > at + length) {
                throw new InvalidImageException(where + ": the tag list ends without an end tag");
            }
            int type = Short.toUnsignedInt(b.getShort(t));
            boolean optional = (b.getShort(t + 2) & 1) != 0;
            int size = b.getInt(t + 4);
            if (size < 8 || t + (long) size > at + length) {
                throw new InvalidImageException(String.format("%s: tag %d at offset 0x%x has size %d, outside the header", where, type, t, size));
            }
            switch (type) {
                case TAG_END -> {
                    return new Multiboot2Header(at, addresses, entry);
                }
                case TAG_INFO_REQUEST -> {
                    for (int i = t + 8; i + 4 <= t + size; i += 4) {
                        int wanted = b.getInt(i);
                        if (!optional && !Multiboot2Info.PROVIDED.containsKey(wanted)) {
                            throw new InvalidImageException("the Multiboot 2 kernel requires boot information tag " + wanted
                                    + ", which stasis does not provide (it gives " + Multiboot2Info.PROVIDED.values() + ")");
                        }
                    }
                }
                case TAG_ADDRESS -> {
                    need(size >= 24, where, "address tag");
                    addresses = new KernelImage.AddressFields(u32(b, t + 8), u32(b, t + 12), u32(b, t + 16), u32(b, t + 20));
                }
                case TAG_ENTRY -> {
                    need(size >= 12, where, "entry address tag");
                    entry = u32(b, t + 8);
                }
                case TAG_CONSOLE -> {
                    need(size >= 12, where, "console flags tag");
                    if (!optional && (b.getInt(t + 8) & 1) != 0) {
                        throw new InvalidImageException("the Multiboot 2 kernel requires a console described to it (console flags tag); stasis has only a serial port");
                    }
                }
                case TAG_MODULE_ALIGN, TAG_RELOCATABLE -> { } // modules are page-aligned anyway; loaded at the link address
                default -> {
                    if (!optional) {
                        String what = UNSUPPORTED.getOrDefault(type, "header tag " + type);
                        throw new InvalidImageException("the Multiboot 2 kernel requires " + what + ", which stasis cannot give it");
                    }
                }
            }
            t += (size + 7) & ~7;
        }
    }

    KernelImage kernel(byte[] image) {
        if (addresses != null && entryAddr == 0) {
            throw new InvalidImageException("the Multiboot 2 header has an address tag but no entry address tag");
        }
        return addresses == null ? KernelImage.fromElf(image, entryAddr) : KernelImage.fromAddresses(image, offset, addresses, entryAddr);
    }

    private static void need(boolean ok, String where, String tag) {
        if (!ok) {
            throw new InvalidImageException(where + ": the " + tag + " is too short");
        }
    }

    private static long u32(ByteBuffer b, int at) {
        return Integer.toUnsignedLong(b.getInt(at));
    }
}
