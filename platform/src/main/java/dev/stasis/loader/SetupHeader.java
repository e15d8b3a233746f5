package dev.stasis.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The fields of a bzImage's setup header (Linux Documentation/arch/x86/boot.rst) that the loaders use, as
 * read from the image. Offsets are those of the image and of {@code boot_params}, which embeds the header at
 * the same place.
 *
 * @param setupSects      512-byte sectors of real-mode setup code after the boot sector (an image's 0 means 4, kept as 4)
 * @param version         boot protocol version, e.g. 0x020f
 * @param loadflags       LOADED_HIGH (bit 0), CAN_USE_HEAP (bit 7), ...
 * @param initrdAddrMax   highest address the initrd may occupy (protocol 2.03+)
 * @param kernelAlignment physical alignment a relocatable kernel wants (2.05+)
 * @param relocatable     the kernel can run at another address than it was linked for (2.05+)
 * @param xloadflags      XLF_KERNEL_64 (bit 0), ... (2.12+)
 * @param cmdlineSize     longest command line, without its NUL (2.06+)
 * @param payloadOffset   the compressed vmlinux, from the start of the protected-mode code (2.08+)
 * @param payloadLength   its length, including the 4-byte uncompressed size the build appends
 * @param prefAddress     preferred load address (2.10+)
 * @param initSize        bytes of memory the kernel needs from its load address to decompress and run (2.10+)
 * @param headerEnd       end of the header in the image: 0x202 + the byte at 0x201
 */
public record SetupHeader(int setupSects, int version, int loadflags, long initrdAddrMax, long kernelAlignment,
                          boolean relocatable, int xloadflags, long cmdlineSize, long payloadOffset, long payloadLength,
                          long prefAddress, long initSize, int headerEnd) {

    public static final int SETUP_SECTS = 0x1f1;
    public static final int BOOT_FLAG = 0x1fe;
    public static final int JUMP = 0x200;
    public static final int HEADER = 0x202;
    public static final int VERSION = 0x206;
    public static final int TYPE_OF_LOADER = 0x210;
    public static final int LOADFLAGS = 0x211;
    public static final int CODE32_START = 0x214;
    public static final int RAMDISK_IMAGE = 0x218;
    public static final int RAMDISK_SIZE = 0x21c;
    public static final int HEAP_END_PTR = 0x224;
    public static final int CMD_LINE_PTR = 0x228;
    public static final int INITRD_ADDR_MAX = 0x22c;
    public static final int KERNEL_ALIGNMENT = 0x230;
    public static final int RELOCATABLE_KERNEL = 0x234;
    public static final int XLOADFLAGS = 0x236;
    public static final int CMDLINE_SIZE = 0x238;
    public static final int PAYLOAD_OFFSET = 0x248;
    public static final int PAYLOAD_LENGTH = 0x24c;
    public static final int PREF_ADDRESS = 0x258;
    public static final int INIT_SIZE = 0x260;
    /** boot_params reserves up to here for the header; a longer one would run into the fields after it. */
    public static final int MAX_HEADER_END = 0x290;

    public static final int BOOT_FLAG_VALUE = 0xaa55;
    /** "HdrS" read little-endian. */
    public static final int HEADER_MAGIC = 0x53726448;
    public static final int LOADED_HIGH = 0x01;
    public static final int CAN_USE_HEAP = 0x80;
    public static final int XLF_KERNEL_64 = 0x01;

    /** True when {@code image} carries the boot sector flag and the "HdrS" magic of a Linux boot image. */
    public static boolean isBzImage(byte[] image) {
        if (image.length < MAX_HEADER_END) {
            return false;
        }
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        return Short.toUnsignedInt(b.getShort(BOOT_FLAG)) == BOOT_FLAG_VALUE && b.getInt(HEADER) == HEADER_MAGIC;
    }

    /**
     * Reads the header of a bzImage of protocol {@code minVersion} or later. Checks the magic, the version,
     * and that the setup code and the header end lie inside the image; the caller checks what it needs further.
     */
    public static SetupHeader parse(byte[] image, int minVersion) {
        if (image.length < MAX_HEADER_END) {
            throw new InvalidImageException("kernel image of " + image.length + " bytes is too short to hold a Linux setup header");
        }
        ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
        if (b.getInt(HEADER) != HEADER_MAGIC) {
            throw new InvalidImageException(String.format("not a Linux bzImage: no \"HdrS\" magic at 0x%x", HEADER));
        }
        int bootFlag = Short.toUnsignedInt(b.getShort(BOOT_FLAG));
        if (bootFlag != BOOT_FLAG_VALUE) {
            throw new InvalidImageException(String.format("not a Linux bzImage: boot flag at 0x%x is 0x%04x, expected 0xaa55", BOOT_FLAG, bootFlag));
        }
        int version = Short.toUnsignedInt(b.getShort(VERSION));
        if (version < minVersion) {
            throw new InvalidImageException(String.format("Linux boot protocol %d.%02d is too old, need %d.%02d or later",
                    version >> 8, version & 0xff, minVersion >> 8, minVersion & 0xff));
        }
        int setupSects = Byte.toUnsignedInt(image[SETUP_SECTS]);
        int headerEnd = HEADER + Byte.toUnsignedInt(image[JUMP + 1]);
        if (headerEnd > MAX_HEADER_END) {
            throw new InvalidImageException(String.format("Linux setup header ends at 0x%x, past the 0x%x boot_params reserves for it", headerEnd, MAX_HEADER_END));
        }
        SetupHeader h = new SetupHeader(setupSects == 0 ? 4 : setupSects, version, Byte.toUnsignedInt(image[LOADFLAGS]),
                Integer.toUnsignedLong(b.getInt(INITRD_ADDR_MAX)), Integer.toUnsignedLong(b.getInt(KERNEL_ALIGNMENT)),
                image[RELOCATABLE_KERNEL] != 0, Short.toUnsignedInt(b.getShort(XLOADFLAGS)),
                Integer.toUnsignedLong(b.getInt(CMDLINE_SIZE)), Integer.toUnsignedLong(b.getInt(PAYLOAD_OFFSET)),
                Integer.toUnsignedLong(b.getInt(PAYLOAD_LENGTH)), b.getLong(PREF_ADDRESS),
                Integer.toUnsignedLong(b.getInt(INIT_SIZE)), headerEnd);
        if (h.setupSize() >= image.length) {
            throw new InvalidImageException(String.format("Linux setup code (%d sectors) takes the whole %d-byte image: no protected-mode kernel",
                    h.setupSects(), image.length));
        }
        return h;
    }

    /** Bytes before the protected-mode kernel: the boot sector and the setup sectors. */
    public int setupSize() {
        return (setupSects + 1) * 512;
    }
}
