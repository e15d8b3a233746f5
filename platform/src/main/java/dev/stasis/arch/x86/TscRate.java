package dev.stasis.arch.x86;

import dev.stasis.kvm.KvmException;
import dev.stasis.kvm.VcpuFd;

/**
 * A restored guest's TSC frequency. Where the host's differs from the saved one by more than KVM's own
 * tolerance (250 ppm), KVM scales the guest TSC if the hardware can (KVM_CAP_TSC_CONTROL, TSC scaling on
 * Intel since Skylake and AMD since family 15h). Where it cannot, the restore goes on and says so: the guest
 * TSC then ticks at this host's rate, so time a guest measures with the raw TSC runs fast or slow by the
 * ratio until it recalibrates, while kvmclock (which KVM keeps in step with the host) and the RTC stay right.
 * QEMU makes the same choice (a warning, not a refusal) unless the guest was promised an invariant TSC.
 */
public final class TscRate {
    private TscRate() {}

    static final int TOLERANCE_PPM = 250;

    /** Sets the vCPU's TSC rate to {@code savedKhz} where needed and possible; returns a note when it cannot, or null. */
    static String apply(VcpuFd fd, long savedKhz, boolean canScale) {
        long hostKhz = fd.getTscKhz();
        if (savedKhz == 0 || withinTolerance(savedKhz, hostKhz)) {
            return null;
        }
        if (canScale) {
            try {
                fd.setTscKhz((int) savedKhz);
                return null;
            } catch (KvmException e) {
                return note(savedKhz, hostKhz, "refused to scale it (" + e.getMessage() + ")");
            }
        }
        return note(savedKhz, hostKhz, "cannot scale it (no KVM_CAP_TSC_CONTROL)");
    }

    public static boolean withinTolerance(long savedKhz, long hostKhz) {
        return Math.abs(savedKhz - hostKhz) * 1_000_000L <= (long) TOLERANCE_PPM * savedKhz;
    }

    public static String note(long savedKhz, long hostKhz, String why) {
        return String.format("the guest's TSC ran at %d kHz where it was saved; this host's KVM %s, so it runs at %d kHz (%+.2f%%): "
                + "time the guest measures with the raw TSC is off by that much until it recalibrates; kvmclock and the RTC keep time",
                savedKhz, why, hostKhz, (hostKhz - savedKhz) * 100.0 / savedKhz);
    }
}
