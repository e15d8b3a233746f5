package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.x86.CpuidEntry;
import java.util.List;
import java.util.Locale;

/**
 * One 32-bit CPUID register that holds feature flags: leaf, sub-leaf and register. These are the registers
 * a CPU model sets, a host must be able to present, and a restore compares; every other CPUID register is
 * identification, topology or sizes, which {@link CpuidBuilder} computes.
 */
public record FeatureWord(int leaf, int subleaf, Register register) {
    public enum Register {
        EAX, EBX, ECX, EDX;

        public int of(CpuidEntry e) {
            return switch (this) {
                case EAX -> e.eax();
                case EBX -> e.ebx();
                case ECX -> e.ecx();
                case EDX -> e.edx();
            };
        }

        public CpuidEntry with(CpuidEntry e, int value) {
            return switch (this) {
                case EAX -> e.withRegisters(value, e.ebx(), e.ecx(), e.edx());
                case EBX -> e.withRegisters(e.eax(), value, e.ecx(), e.edx());
                case ECX -> e.withRegisters(e.eax(), e.ebx(), value, e.edx());
                case EDX -> e.withRegisters(e.eax(), e.ebx(), e.ecx(), value);
            };
        }

        public static Register parse(String name) {
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("'" + name + "' is not a register (eax, ebx, ecx or edx)");
            }
        }
    }

    public static final FeatureWord L1_ECX = new FeatureWord(0x1, 0, Register.ECX);
    public static final FeatureWord L1_EDX = new FeatureWord(0x1, 0, Register.EDX);
    public static final FeatureWord L6_EAX = new FeatureWord(0x6, 0, Register.EAX);
    public static final FeatureWord L7_0_EBX = new FeatureWord(0x7, 0, Register.EBX);
    public static final FeatureWord L7_0_ECX = new FeatureWord(0x7, 0, Register.ECX);
    public static final FeatureWord L7_0_EDX = new FeatureWord(0x7, 0, Register.EDX);
    public static final FeatureWord L7_1_EAX = new FeatureWord(0x7, 1, Register.EAX);
    public static final FeatureWord L7_1_EDX = new FeatureWord(0x7, 1, Register.EDX);
    public static final FeatureWord L7_2_EDX = new FeatureWord(0x7, 2, Register.EDX);
    public static final FeatureWord LD_1_EAX = new FeatureWord(0xd, 1, Register.EAX);
    public static final FeatureWord L14_0_EBX = new FeatureWord(0x14, 0, Register.EBX);
    public static final FeatureWord L19_EBX = new FeatureWord(0x19, 0, Register.EBX);
    public static final FeatureWord KVM_EAX = new FeatureWord(0x40000001, 0, Register.EAX);
    public static final FeatureWord X1_ECX = new FeatureWord(0x80000001, 0, Register.ECX);
    public static final FeatureWord X1_EDX = new FeatureWord(0x80000001, 0, Register.EDX);
    public static final FeatureWord X7_EDX = new FeatureWord(0x80000007, 0, Register.EDX);
    public static final FeatureWord X8_EBX = new FeatureWord(0x80000008, 0, Register.EBX);

    /** Every feature register, in CPUID order. */
    public static final List<FeatureWord> ALL = List.of(L1_ECX, L1_EDX, L6_EAX, L7_0_EBX, L7_0_ECX, L7_0_EDX, L7_1_EAX,
            L7_1_EDX, L7_2_EDX, LD_1_EAX, L14_0_EBX, L19_EBX, KVM_EAX, X1_ECX, X1_EDX, X7_EDX, X8_EBX);

    /**
     * Bits that are not features: OSXSAVE (1 ECX 27) and OSPKE (7.0 ECX 4) mirror the guest's CR4, and the
     * hypervisor bit (1 ECX 31) and HTT (1 EDX 28, "more than one logical processor") describe the VM, not
     * the CPU. KVM computes the first two; {@link CpuidBuilder} sets the others.
     */
    public int notFeatures() {
        if (equals(L1_ECX)) {
            return (1 << 27) | (1 << 31);
        }
        if (equals(L1_EDX)) {
            return 1 << 28;
        }
        if (equals(L7_0_ECX)) {
            return 1 << 4;
        }
        return 0;
    }

    /** Leaves that take a sub-leaf index (KVM_CPUID_FLAG_SIGNIFICANT_INDEX). */
    public static boolean indexed(int leaf) {
        return leaf == 0x4 || leaf == 0x7 || leaf == 0xb || leaf == 0xd || leaf == 0xf || leaf == 0x10 || leaf == 0x12
                || leaf == 0x14 || leaf == 0x17 || leaf == 0x18 || leaf == 0x1d || leaf == 0x1e || leaf == 0x1f
                || leaf == 0x24 || leaf == 0x8000001d || leaf == 0x80000020 || leaf == 0x80000026;
    }

    /** The value of this register in {@code entries}, 0 when the leaf (or sub-leaf) is absent. */
    public int in(List<CpuidEntry> entries) {
        for (CpuidEntry e : entries) {
            if (e.function() == leaf && (e.index() == subleaf || !indexed(leaf))) {
                return register.of(e);
            }
        }
        return 0;
    }

    /** "leaf 0x7.0 EBX" (the sub-leaf only where the leaf has sub-leaves). */
    public String label() {
        return String.format("leaf 0x%x%s %s", leaf, indexed(leaf) ? "." + subleaf : "", register);
    }

    /** Finds a word by leaf, sub-leaf and register, or throws naming the ones that exist. */
    public static FeatureWord find(int leaf, int subleaf, Register register) {
        FeatureWord w = new FeatureWord(leaf, indexed(leaf) ? subleaf : 0, register);
        if (!ALL.contains(w)) {
            throw new IllegalArgumentException(String.format("leaf 0x%x.%d %s holds no CPU features stasis models (feature registers: %s)",
                    leaf, subleaf, register, String.join(", ", ALL.stream().map(FeatureWord::label).toList())));
        }
        return w;
    }
}
