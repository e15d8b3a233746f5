package dev.stasis.kvm;

/** The KVM capabilities stasis checks for, with their {@code KVM_CAP_*} numbers. */
public enum Capability {
    IRQCHIP(0), HLT(1), USER_MEMORY(3), SET_TSS_ADDR(4), EXT_CPUID(7), NR_VCPUS(9), NR_MEMSLOTS(10), MP_STATE(14),
    SYNC_MMU(16), IRQ_ROUTING(25), IRQFD(32), PIT2(33), PIT_STATE2(35), IOEVENTFD(36), SET_IDENTITY_MAP_ADDR(37), ADJUST_CLOCK(39),
    INTERNAL_ERROR_DATA(40), VCPU_EVENTS(41), DEBUGREGS(50), XSAVE(55), XCRS(56), TSC_CONTROL(60), GET_TSC_KHZ(61),
    MAX_VCPUS(66), TSC_DEADLINE_TIMER(72), KVMCLOCK_CTRL(76), SIGNAL_MSI(77), READONLY_MEM(81), X86_SMM(117),
    IMMEDIATE_EXIT(136), EXCEPTION_PAYLOAD(164), MANUAL_DIRTY_LOG_PROTECT2(168), XSAVE2(208);

    public final int number;

    Capability(int number) {
        this.number = number;
    }
}
