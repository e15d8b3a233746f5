package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/** {@code struct kvm_sregs}: segment registers, descriptor tables, control registers, EFER, APIC base. */
public record Sregs(Segment cs, Segment ds, Segment es, Segment fs, Segment gs, Segment ss, Segment tr, Segment ldt,
                    DescriptorTable gdt, DescriptorTable idt, long cr0, long cr2, long cr3, long cr4, long cr8,
                    long efer, long apicBase, long[] interruptBitmap) {

    public Sregs {
        interruptBitmap = interruptBitmap.clone(); // immutable, as every saved state is: a restored one is shared by the clones of a file
    }

    @Override
    public long[] interruptBitmap() {
        return interruptBitmap.clone();
    }

    public static final long CR0_PE = 1, CR0_MP = 1 << 1, CR0_ET = 1 << 4, CR0_NE = 1 << 5, CR0_WP = 1 << 16,
            CR0_AM = 1 << 18, CR0_PG = 1L << 31;
    public static final long CR4_PAE = 1 << 5, CR4_PGE = 1 << 7, CR4_OSFXSR = 1 << 9, CR4_OSXMMEXCPT = 1 << 10,
            CR4_OSXSAVE = 1 << 18;
    public static final long EFER_SCE = 1, EFER_LME = 1 << 8, EFER_LMA = 1 << 10, EFER_NXE = 1 << 11;

    public static Sregs read(Pointer p) {
        Segment[] seg = new Segment[8];
        for (int i = 0; i < 8; i++) {
            seg[i] = Segment.read(p, (long) i * SEGMENT_SIZE);
        }
        long[] bitmap = new long[4];
        p.read(SREGS_INTERRUPT_BITMAP, bitmap, 0, 4);
        return new Sregs(seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7],
                DescriptorTable.read(p, SREGS_GDT), DescriptorTable.read(p, SREGS_IDT),
                p.getLong(SREGS_CR0), p.getLong(SREGS_CR0 + 8), p.getLong(SREGS_CR0 + 16), p.getLong(SREGS_CR0 + 24),
                p.getLong(SREGS_CR8), p.getLong(SREGS_EFER), p.getLong(SREGS_APIC_BASE), bitmap);
    }

    public void write(Pointer p) {
        Segment[] seg = {cs, ds, es, fs, gs, ss, tr, ldt};
        for (int i = 0; i < 8; i++) {
            seg[i].write(p, (long) i * SEGMENT_SIZE);
        }
        gdt.write(p, SREGS_GDT);
        idt.write(p, SREGS_IDT);
        p.setLong(SREGS_CR0, cr0);
        p.setLong(SREGS_CR0 + 8, cr2);
        p.setLong(SREGS_CR0 + 16, cr3);
        p.setLong(SREGS_CR0 + 24, cr4);
        p.setLong(SREGS_CR8, cr8);
        p.setLong(SREGS_EFER, efer);
        p.setLong(SREGS_APIC_BASE, apicBase);
        p.write(SREGS_INTERRUPT_BITMAP, interruptBitmap, 0, 4);
    }

    /** This state with new code and data segments, tables and paging registers: what a loader's entry needs. */
    public Sregs withBoot(Segment code, Segment data, DescriptorTable gdt, long cr0, long cr3, long cr4, long efer) {
        return new Sregs(code, data, data, data, data, data, tr, ldt, gdt, idt, cr0, cr2, cr3, cr4, cr8, efer, apicBase, interruptBitmap);
    }

    @Override
    public String toString() {
        return String.format("cr0=%016x cr2=%016x cr3=%016x cr4=%016x efer=%x%n cs=%04x base=%x l=%b db=%b ss=%04x gdt=%x/%x idt=%x/%x apic_base=%x",
                cr0, cr2, cr3, cr4, efer, cs.selector(), cs.base(), cs.l(), cs.db(), ss.selector(), gdt.base(), gdt.limit(), idt.base(), idt.limit(), apicBase);
    }
}
