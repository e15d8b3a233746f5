package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/** {@code struct kvm_cpuid_entry2}: one CPUID leaf (and sub-leaf) as the guest will see it. */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public static CpuidEntry read(Pointer p, long offset) {
        return new CpuidEntry(p.getInt(offset), p.getInt(offset + 4), p.getInt(offset + CPUID_ENTRY_FLAGS),
                p.getInt(offset + CPUID_ENTRY_EAX), p.getInt(offset + CPUID_ENTRY_EAX + 4),
                p.getInt(offset + CPUID_ENTRY_EAX + 8), p.getInt(offset + CPUID_ENTRY_EDX));
    }

    public void write(Pointer p, long offset) {
        p.setMemory(offset, CPUID_ENTRY_SIZE, (byte) 0);
        p.setInt(offset, function);
        p.setInt(offset + 4, index);
        p.setInt(offset + CPUID_ENTRY_FLAGS, flags);
        p.setInt(offset + CPUID_ENTRY_EAX, eax);
        p.setInt(offset + CPUID_ENTRY_EAX + 4, ebx);
        p.setInt(offset + CPUID_ENTRY_EAX + 8, ecx);
        p.setInt(offset + CPUID_ENTRY_EDX, edx);
    }

    public CpuidEntry withRegisters(int eax, int ebx, int ecx, int edx) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, edx);
    }
}
