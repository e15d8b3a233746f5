package dev.stasis.kvm.x86;

/** {@code struct kvm_xsave}: the XSAVE area (FPU, SSE, AVX, ...), at least 4 KiB, larger with KVM_GET_XSAVE2. */
public record XsaveState(byte[] region) {
    public XsaveState {
        if (region.length < KvmLayout.XSAVE_SIZE) {
            throw new IllegalArgumentException("XSAVE area must be at least " + KvmLayout.XSAVE_SIZE + " bytes, got " + region.length);
        }
        region = region.clone();
    }

    @Override
    public byte[] region() {
        return region.clone();
    }
}
