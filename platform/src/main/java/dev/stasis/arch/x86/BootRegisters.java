package dev.stasis.arch.x86;

import static dev.stasis.kvm.x86.Sregs.*;

import dev.stasis.kvm.x86.DescriptorTable;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Segment;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.loader.BootGdt;
import dev.stasis.loader.CpuMode;
import dev.stasis.loader.EntryPoint;

/** Turns a loader's {@link EntryPoint} into the registers a vCPU starts with. */
public final class BootRegisters {
    private BootRegisters() {}

    public static Regs regs(EntryPoint entry, int vcpu) {
        return Regs.initial().withEntry(entry.rip(), entry.stackFor(vcpu), entry.rsi(), vcpu, entry.rbx()).withRax(entry.rax());
    }

    /** {@code current} (KVM's reset state, which keeps the APIC base and TR) with the entry's mode applied. */
    public static Sregs sregs(Sregs current, EntryPoint entry) {
        DescriptorTable gdt = new DescriptorTable(BootGdt.BASE, BootGdt.LIMIT);
        Segment data = Segment.fromDescriptor(BootGdt.DATA, BootGdt.DESCRIPTORS[BootGdt.DATA / 8]);
        if (entry.mode() == CpuMode.LONG_64) {
            Segment code = Segment.fromDescriptor(BootGdt.CODE64, BootGdt.DESCRIPTORS[BootGdt.CODE64 / 8]);
            return current.withBoot(code, data, gdt, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG, entry.cr3(),
                    CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT, EFER_LME | EFER_LMA);
        }
        Segment code = Segment.fromDescriptor(BootGdt.CODE32, BootGdt.DESCRIPTORS[BootGdt.CODE32 / 8]);
        return current.withBoot(code, data, gdt, CR0_PE | CR0_ET, 0, 0, 0);
    }
}
