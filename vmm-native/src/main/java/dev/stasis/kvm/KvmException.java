package dev.stasis.kvm;

import dev.stasis.os.NativeException;

/**
 * A failed KVM ioctl: which one, the errno, and what it was about
 * ({@code "KVM_SET_USER_MEMORY_REGION failed: EINVAL (Invalid argument) (slot 1, gpa 0x..., size ...)"}).
 */
public final class KvmException extends NativeException {
    private final KvmIoctl ioctl;

    public KvmException(KvmIoctl ioctl, int errno, String context) {
        super(ioctl.name(), errno, context);
        this.ioctl = ioctl;
    }

    public KvmIoctl ioctl() {
        return ioctl;
    }
}
