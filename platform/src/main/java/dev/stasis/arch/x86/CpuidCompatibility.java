package dev.stasis.arch.x86;

import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.snapshot.state.StateException;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a guest saved on one host can run on this one: every CPU feature its CPUID shows must be one this
 * host's KVM can give a guest. Otherwise the guest would meet #UD or a KVM internal error later, far from
 * the cause; a restore or migration refuses it up front, naming the leaves and bits.
 */
public final class CpuidCompatibility {
    private CpuidCompatibility() {}

    /** A feature register: leaf, sub-leaf (or -1 when the leaf has none), register, and bits not compared. */
    private record FeatureRegister(int leaf, int subleaf, CpuFeature.Register register, int ignored) {}

    /** Bits that are not features: set by the VMM (hypervisor) or mirroring guest control registers (OSXSAVE, OSPKE). */
    private static final List<FeatureRegister> COMPARED = List.of(
            new FeatureRegister(1, -1, CpuFeature.Register.ECX, (1 << 31) | (1 << 27)),
            new FeatureRegister(1, -1, CpuFeature.Register.EDX, 0),
            new FeatureRegister(7, 0, CpuFeature.Register.EBX, 0),
            new FeatureRegister(7, 0, CpuFeature.Register.ECX, 1 << 4),
            new FeatureRegister(7, 0, CpuFeature.Register.EDX, 0),
            new FeatureRegister(0x80000001, -1, CpuFeature.Register.ECX, 0),
            new FeatureRegister(0x80000001, -1, CpuFeature.Register.EDX, 0));

    /** Throws a {@link StateException} naming every feature in {@code saved} that {@code supported} lacks. */
    public static void check(List<CpuidEntry> saved, List<CpuidEntry> supported) {
        List<String> missing = new ArrayList<>();
        for (FeatureRegister f : COMPARED) {
            CpuidEntry s = find(saved, f);
            if (s == null) {
                continue;
            }
            CpuidEntry h = find(supported, f);
            int extra = value(s, f.register()) & ~(h == null ? 0 : value(h, f.register())) & ~f.ignored();
            if (extra != 0) {
                missing.add(String.format("leaf 0x%x%s %s bits %s", f.leaf(), f.subleaf() < 0 ? "" : "." + f.subleaf(),
                        f.register(), bits(extra)));
            }
        }
        if (!missing.isEmpty()) {
            throw new StateException("the guest's CPU has features this host's KVM cannot give it (CPUID " + String.join("; ", missing)
                    + "); save guests with --cpuid-mask to keep them portable");
        }
    }

    private static CpuidEntry find(List<CpuidEntry> entries, FeatureRegister f) {
        for (CpuidEntry e : entries) {
            if (e.function() == f.leaf() && (f.subleaf() < 0 || e.index() == f.subleaf())) {
                return e;
            }
        }
        return null;
    }

    private static int value(CpuidEntry e, CpuFeature.Register r) {
        return switch (r) {
            case EAX -> e.eax();
            case EBX -> e.ebx();
            case ECX -> e.ecx();
            case EDX -> e.edx();
        };
    }

    private static String bits(int mask) {
        List<String> b = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            if ((mask & (1 << i)) != 0) {
                b.add(String.valueOf(i));
            }
        }
        return String.join(",", b);
    }
}
