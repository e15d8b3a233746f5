package dev.stasis.kvm.x86;

/** {@code struct kvm_clock_data}: the VM's kvmclock in nanoseconds, and (with flags) host realtime and TSC. */
public record ClockData(long clock, int flags, long realtime, long hostTsc) {
    public static final int TSC_STABLE = 2, REALTIME = 4, HOST_TSC = 8;
}
