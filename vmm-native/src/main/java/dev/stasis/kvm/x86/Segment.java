package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/** {@code struct kvm_segment}: a segment register with its hidden descriptor part. */
public record Segment(long base, int limit, int selector, int type, boolean present, int dpl, boolean db,
                      boolean s, boolean l, boolean g, boolean avl, boolean unusable) {

    public static Segment read(Pointer p, long offset) {
        return new Segment(p.getLong(offset + SEGMENT_BASE), p.getInt(offset + SEGMENT_LIMIT),
                p.getShort(offset + SEGMENT_SELECTOR) & 0xffff, p.getByte(offset + SEGMENT_TYPE) & 0xff,
                p.getByte(offset + SEGMENT_PRESENT) != 0, p.getByte(offset + SEGMENT_DPL) & 0xff,
                p.getByte(offset + SEGMENT_DB) != 0, p.getByte(offset + SEGMENT_S) != 0, p.getByte(offset + SEGMENT_L) != 0,
                p.getByte(offset + SEGMENT_G) != 0, p.getByte(offset + SEGMENT_AVL) != 0, p.getByte(offset + SEGMENT_UNUSABLE) != 0);
    }

    public void write(Pointer p, long offset) {
        p.setLong(offset + SEGMENT_BASE, base);
        p.setInt(offset + SEGMENT_LIMIT, limit);
        p.setShort(offset + SEGMENT_SELECTOR, (short) selector);
        p.setByte(offset + SEGMENT_TYPE, (byte) type);
        p.setByte(offset + SEGMENT_PRESENT, flag(present));
        p.setByte(offset + SEGMENT_DPL, (byte) dpl);
        p.setByte(offset + SEGMENT_DB, flag(db));
        p.setByte(offset + SEGMENT_S, flag(s));
        p.setByte(offset + SEGMENT_L, flag(l));
        p.setByte(offset + SEGMENT_G, flag(g));
        p.setByte(offset + SEGMENT_AVL, flag(avl));
        p.setByte(offset + SEGMENT_UNUSABLE, flag(unusable));
        p.setByte(offset + SEGMENT_UNUSABLE + 1, (byte) 0);
    }

    /** The hidden state a CPU loads for {@code selector} from a GDT descriptor word. */
    public static Segment fromDescriptor(int selector, long descriptor) {
        long base = ((descriptor >>> 16) & 0xffffff) | (((descriptor >>> 56) & 0xff) << 24);
        int rawLimit = (int) ((descriptor & 0xffff) | (((descriptor >>> 48) & 0xf) << 16));
        boolean g = ((descriptor >>> 55) & 1) != 0;
        int limit = g ? (rawLimit << 12) | 0xfff : rawLimit;
        return new Segment(base, limit, selector, (int) ((descriptor >>> 40) & 0xf), ((descriptor >>> 47) & 1) != 0,
                (int) ((descriptor >>> 45) & 3), ((descriptor >>> 54) & 1) != 0, ((descriptor >>> 44) & 1) != 0,
                ((descriptor >>> 53) & 1) != 0, g, ((descriptor >>> 52) & 1) != 0, false);
    }

    static byte flag(boolean b) {
        return (byte) (b ? 1 : 0);
    }
}
