package dev.stasis.arch.x86;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * CPUID feature bits a user can hide from the guest ({@code --cpuid-mask cx16,xsave}). Some emulating
 * KVMs pass host features through that they cannot run; Linux needs CX16 hidden on this machine's KVM.
 */
public enum CpuFeature {
    CX16(1, Register.ECX, 13),
    X2APIC(1, Register.ECX, 21),
    XSAVE(1, Register.ECX, 26),
    AVX(1, Register.ECX, 28),
    RDRAND(1, Register.ECX, 30),
    SMEP(7, Register.EBX, 7),
    SMAP(7, Register.EBX, 20),
    AVX2(7, Register.EBX, 5),
    PCID(1, Register.ECX, 17),
    TSC_DEADLINE(1, Register.ECX, 24);

    public enum Register { EAX, EBX, ECX, EDX }

    public final int leaf;
    public final Register register;
    public final int bit;

    CpuFeature(int leaf, Register register, int bit) {
        this.leaf = leaf;
        this.register = register;
        this.bit = bit;
    }

    /** Parses a name like {@code cx16} or {@code tsc-deadline}; the error lists the known names. */
    public static CpuFeature parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown CPU feature '" + name + "'; known: "
                    + Arrays.stream(values()).map(f -> f.name().toLowerCase(Locale.ROOT)).collect(Collectors.joining(", ")));
        }
    }
}
