package dev.stasis.kvm.x86;

/** {@code struct kvm_fpu}: the legacy FXSAVE-style FPU/SSE state, for hosts without XSAVE. */
public record FpuState(byte[] raw) {
    public FpuState {
        if (raw.length != KvmLayout.FPU_SIZE) {
            throw new IllegalArgumentException("FPU state must be " + KvmLayout.FPU_SIZE + " bytes, got " + raw.length);
        }
        raw = raw.clone();
    }

    @Override
    public byte[] raw() {
        return raw.clone();
    }
}
