package dev.stasis.kvm.x86;

/** {@code struct kvm_msr_entry}: one model-specific register. */
public record MsrEntry(int index, long data) {
    public static final int IA32_TSC = 0x10;
    public static final int IA32_APIC_BASE = 0x1b;
    public static final int IA32_MISC_ENABLE = 0x1a0;
    public static final int IA32_TSC_DEADLINE = 0x6e0;
    public static final int IA32_EFER = 0xc0000080;

    @Override
    public String toString() {
        return String.format("msr[0x%x]=0x%x", index, data);
    }
}
