package dev.stasis.arch.x86;

import dev.stasis.kvm.x86.CpuidEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The CPUID a vCPU sees: what the host's KVM supports, with this vCPU's APIC ID, the hypervisor bit,
 * and the features the user masked.
 */
public final class CpuidPolicy {
    private CpuidPolicy() {}

    private static final int HYPERVISOR_BIT = 1 << 31;

    public static List<CpuidEntry> forVcpu(List<CpuidEntry> supported, int vcpuId, int vcpuCount, Set<CpuFeature> masked) {
        List<CpuidEntry> out = new ArrayList<>(supported.size());
        for (CpuidEntry e : supported) {
            int eax = e.eax(), ebx = e.ebx(), ecx = e.ecx(), edx = e.edx();
            switch (e.function()) {
                case 1 -> {
                    // EBX[31:24] initial APIC ID, [23:16] logical processors per package.
                    ebx = (ebx & 0x0000ffff) | (vcpuId << 24) | (Math.max(vcpuCount, 1) << 16);
                    ecx |= HYPERVISOR_BIT;
                }
                case 0xb, 0x1f -> edx = vcpuId; // x2APIC ID
                default -> { }
            }
            for (CpuFeature f : masked) {
                if (f.leaf == e.function() && (f.leaf != 7 || e.index() == 0)) {
                    int clear = ~(1 << f.bit);
                    switch (f.register) {
                        case EAX -> eax &= clear;
                        case EBX -> ebx &= clear;
                        case ECX -> ecx &= clear;
                        case EDX -> edx &= clear;
                    }
                }
            }
            out.add(e.withRegisters(eax, ebx, ecx, edx));
        }
        return out;
    }
}
