package dev.stasis.vcpu;

import dev.stasis.kvm.KvmRun;

/**
 * What the VM does with the exits a vCPU thread cannot handle by itself: guest-caused stops, resets and
 * host-side failures. Called on the vCPU's own thread, out of KVM_RUN, so it may read that vCPU's state.
 */
public interface ExitHandler {
    /** The guest stopped in a way the VMM cannot continue from (shutdown, internal error, unhandled exit). */
    void guestStopped(Vcpu vcpu, GuestStop stop, KvmRun run);

    /** The guest asked for a reset (i8042, KVM_SYSTEM_EVENT_RESET). */
    void resetRequested(Vcpu vcpu);

    /** The VMM itself failed while running this vCPU. */
    void hostFailure(Vcpu vcpu, Throwable error);
}
