package dev.stasis.loader;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One entry of an ELF note segment.
 *
 * @param owner the note's name without its terminating NUL ("Xen", "GNU", "Linux")
 * @param type  the owner-defined type
 * @param desc  the descriptor bytes
 */
public record ElfNote(String owner, int type, byte[] desc) {
    public ElfNote {
        desc = desc.clone();
    }

    @Override
    public byte[] desc() {
        return desc.clone();
    }

    /** The descriptor read as a little-endian unsigned integer of 4 or 8 bytes. */
    public long descAsUnsigned() {
        ByteBuffer b = ByteBuffer.wrap(desc).order(ByteOrder.LITTLE_ENDIAN);
        return switch (desc.length) {
            case 4 -> Integer.toUnsignedLong(b.getInt());
            case 8 -> b.getLong();
            default -> throw new InvalidImageException(String.format(
                    "ELF note %s/%d has a %d-byte descriptor, expected 4 or 8", owner, type, desc.length));
        };
    }
}
