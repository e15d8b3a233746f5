package dev.stasis.kvm.x86;

import com.sun.jna.Pointer;

/** {@code struct kvm_dtable}: the GDTR or IDTR. */
public record DescriptorTable(long base, int limit) {
    public static DescriptorTable read(Pointer p, long offset) {
        return new DescriptorTable(p.getLong(offset), p.getShort(offset + 8) & 0xffff);
    }

    public void write(Pointer p, long offset) {
        p.setLong(offset, base);
        p.setShort(offset + 8, (short) limit);
        p.setShort(offset + 10, (short) 0);
        p.setInt(offset + 12, 0);
    }
}
