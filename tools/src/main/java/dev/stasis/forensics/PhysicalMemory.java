package dev.stasis.forensics;

import dev.stasis.snapshot.container.RamRange;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * Guest-physical memory read offline (from a snapshot file, or a buffer in tests). Reads outside RAM throw
 * {@link ForensicsException} naming the address, since page-table entries in a crashed guest may point anywhere.
 */
public interface PhysicalMemory {
    /** The RAM ranges, ascending. */
    List<RamRange> ranges();

    /**
     * A read-only little-endian view of {@code [gpa, gpa + length)}, which lies in one range, or null when it
     * does not.
     */
    ByteBuffer view(long gpa, int length);

    default boolean contains(long gpa, long length) {
        for (RamRange r : ranges()) {
            if (gpa >= r.gpa() && length <= r.end() - gpa && gpa + length >= gpa) {
                return true;
            }
        }
        return false;
    }

    /** {@code length} bytes at {@code gpa}, which must lie in one RAM range. */
    default byte[] read(long gpa, int length) {
        ByteBuffer b = view(gpa, length);
        if (b == null) {
            throw ForensicsException.outsideRam(gpa, length, ranges());
        }
        byte[] out = new byte[length];
        b.get(out);
        return out;
    }

    default long readLong(long gpa) {
        ByteBuffer b = view(gpa, 8);
        if (b == null) {
            throw ForensicsException.outsideRam(gpa, 8, ranges());
        }
        return b.order(ByteOrder.LITTLE_ENDIAN).getLong();
    }

    default int readInt(long gpa) {
        ByteBuffer b = view(gpa, 4);
        if (b == null) {
            throw ForensicsException.outsideRam(gpa, 4, ranges());
        }
        return b.order(ByteOrder.LITTLE_ENDIAN).getInt();
    }
}
