package dev.stasis.vcpu;

/** Ways a guest can stop that the VMM cannot run on from. */
public enum GuestStop {
    /** KVM_EXIT_SHUTDOWN: a triple fault or a shutdown cycle. */
    SHUTDOWN("triple fault or shutdown"),
    /** KVM_EXIT_INTERNAL_ERROR: KVM could not emulate or deliver something. */
    INTERNAL_ERROR("KVM internal error"),
    /** KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest. */
    FAIL_ENTRY("VM entry failed"),
    /** KVM_SYSTEM_EVENT_CRASH: the guest reported a crash (pvpanic). */
    CRASH("guest reported a crash"),
    /** An exit reason this VMM does not handle. */
    UNHANDLED_EXIT("unhandled exit"),
    /** HLT with no in-kernel irqchip to wake it. */
    HALTED("halted");

    public final String description;

    GuestStop(String description) {
        this.description = description;
    }
}
