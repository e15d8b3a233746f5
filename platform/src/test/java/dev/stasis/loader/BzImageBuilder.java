package dev.stasis.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Builds a minimal bzImage: boot sector with the setup header, {@link #SETUP_SECTS} setup sectors, then a
 * protected-mode kernel holding some entry code followed by the payload. Header values copy Debian's 6.1 kernel.
 */
final class BzImageBuilder {
    static final int SETUP_SECTS = 1;
    static final int SETUP_SIZE = (SETUP_SECTS + 1) * 512;
    /** Where the payload starts in the protected-mode kernel. */
    static final int PAYLOAD_OFFSET = 0x400;

    int version = 0x020f;
    int loadflags = SetupHeader.LOADED_HIGH;
    int xloadflags = 0x7f;
    long initSize = 0x400000;
    long prefAddress = 0x1000000;
    long kernelAlignment = 0x200000;
    boolean relocatable = true;
    long initrdAddrMax = 0x7fffffff;
    long cmdlineSize = 2047;
    byte[] payload = new byte[16];

    /** A bzImage whose payload is {@code payload} followed by the 4-byte size the kernel build appends. */
    BzImageBuilder payloadWithSize(byte[] compressed, int uncompressedSize) {
        payload = ByteBuffer.allocate(compressed.length + 4).order(ByteOrder.LITTLE_ENDIAN).put(compressed).putInt(uncompressedSize).array();
        return this;
    }

    byte[] build() {
        ByteBuffer b = ByteBuffer.allocate(SETUP_SIZE + PAYLOAD_OFFSET + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(SetupHeader.SETUP_SECTS, (byte) SETUP_SECTS);
        b.putShort(SetupHeader.BOOT_FLAG, (short) 0xaa55);
        b.put(SetupHeader.JUMP, (byte) 0xeb).put(SetupHeader.JUMP + 1, (byte) 0x6a); // header ends at 0x26c
        b.putInt(SetupHeader.HEADER, SetupHeader.HEADER_MAGIC);
        b.putShort(SetupHeader.VERSION, (short) version);
        b.put(SetupHeader.LOADFLAGS, (byte) loadflags);
        b.putInt(SetupHeader.CODE32_START, 0x100000);
        b.putInt(SetupHeader.INITRD_ADDR_MAX, (int) initrdAddrMax);
        b.putInt(SetupHeader.KERNEL_ALIGNMENT, (int) kernelAlignment);
        b.put(SetupHeader.RELOCATABLE_KERNEL, (byte) (relocatable ? 1 : 0));
        b.putShort(SetupHeader.XLOADFLAGS, (short) xloadflags);
        b.putInt(SetupHeader.CMDLINE_SIZE, (int) cmdlineSize);
        b.putInt(SetupHeader.PAYLOAD_OFFSET, PAYLOAD_OFFSET);
        b.putInt(SetupHeader.PAYLOAD_LENGTH, payload.length);
        b.putLong(SetupHeader.PREF_ADDRESS, prefAddress);
        b.putInt(SetupHeader.INIT_SIZE, (int) initSize);
        b.putInt(0x268, 0x12345678); // kernel_info_offset: the last header field, to check the copy's extent
        for (int i = 0; i < PAYLOAD_OFFSET; i++) {
            b.put(SETUP_SIZE + i, (byte) (i * 7 + 1)); // recognisable "entry code"
        }
        b.put(SETUP_SIZE + PAYLOAD_OFFSET, payload);
        return b.array();
    }
}
