package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;

import dev.stasis.os.IoctlNumber;

/**
 * Every KVM ioctl stasis issues, grouped by the descriptor it is issued on, encoded from the
 * {@code _IO/_IOR/_IOW/_IOWR} rules and the structure sizes in {@link dev.stasis.kvm.x86.KvmLayout}, and
 * checked against {@code <linux/kvm.h>} by the layout test.
 */
public enum KvmIoctl {
    // /dev/kvm
    KVM_GET_API_VERSION(io(0x00)),
    KVM_CREATE_VM(io(0x01)),
    KVM_GET_MSR_INDEX_LIST(iowr(0x02, MSR_LIST_HEADER_SIZE)),
    KVM_CHECK_EXTENSION(io(0x03)),
    KVM_GET_VCPU_MMAP_SIZE(io(0x04)),
    KVM_GET_SUPPORTED_CPUID(iowr(0x05, CPUID2_HEADER_SIZE)),
    KVM_GET_MSR_FEATURE_INDEX_LIST(iowr(0x0a, MSR_LIST_HEADER_SIZE)),
    // VM
    KVM_CREATE_VCPU(io(0x41)),
    KVM_GET_DIRTY_LOG(iow(0x42, DIRTY_LOG_SIZE)),
    KVM_SET_USER_MEMORY_REGION(iow(0x46, MEMORY_REGION_SIZE)),
    KVM_SET_TSS_ADDR(io(0x47)),
    KVM_SET_IDENTITY_MAP_ADDR(iow(0x48, 8)),
    KVM_CREATE_IRQCHIP(io(0x60)),
    KVM_IRQ_LINE(iow(0x61, IRQ_LEVEL_SIZE)),
    KVM_GET_IRQCHIP(iowr(0x62, IRQCHIP_SIZE)),
    KVM_SET_IRQCHIP(ior(0x63, IRQCHIP_SIZE)),
    KVM_IRQFD(iow(0x76, IRQFD_SIZE)),
    KVM_CREATE_PIT2(iow(0x77, PIT_CONFIG_SIZE)),
    KVM_IOEVENTFD(iow(0x79, IOEVENTFD_SIZE)),
    KVM_SET_CLOCK(iow(0x7b, CLOCK_DATA_SIZE)),
    KVM_GET_CLOCK(ior(0x7c, CLOCK_DATA_SIZE)),
    KVM_GET_PIT2(ior(0x9f, PIT_STATE2_SIZE)),
    KVM_SET_PIT2(iow(0xa0, PIT_STATE2_SIZE)),
    KVM_ENABLE_CAP(iow(0xa3, ENABLE_CAP_SIZE)),
    KVM_SIGNAL_MSI(iow(0xa5, MSI_SIZE)),
    KVM_CLEAR_DIRTY_LOG(iowr(0xc0, CLEAR_DIRTY_LOG_SIZE)),
    // vCPU
    KVM_RUN(io(0x80)),
    KVM_GET_REGS(ior(0x81, REGS_SIZE)),
    KVM_SET_REGS(iow(0x82, REGS_SIZE)),
    KVM_GET_SREGS(ior(0x83, SREGS_SIZE)),
    KVM_SET_SREGS(iow(0x84, SREGS_SIZE)),
    KVM_GET_MSRS(iowr(0x88, MSRS_HEADER_SIZE)),
    KVM_SET_MSRS(iow(0x89, MSRS_HEADER_SIZE)),
    KVM_SET_SIGNAL_MASK(iow(0x8b, SIGNAL_MASK_HEADER_SIZE)),
    KVM_GET_FPU(ior(0x8c, FPU_SIZE)),
    KVM_SET_FPU(iow(0x8d, FPU_SIZE)),
    KVM_GET_LAPIC(ior(0x8e, LAPIC_SIZE)),
    KVM_SET_LAPIC(iow(0x8f, LAPIC_SIZE)),
    KVM_SET_CPUID2(iow(0x90, CPUID2_HEADER_SIZE)),
    KVM_GET_CPUID2(iowr(0x91, CPUID2_HEADER_SIZE)),
    KVM_GET_MP_STATE(ior(0x98, MP_STATE_SIZE)),
    KVM_SET_MP_STATE(iow(0x99, MP_STATE_SIZE)),
    KVM_GET_VCPU_EVENTS(ior(0x9f, VCPU_EVENTS_SIZE)),
    KVM_SET_VCPU_EVENTS(iow(0xa0, VCPU_EVENTS_SIZE)),
    KVM_GET_DEBUGREGS(ior(0xa1, DEBUGREGS_SIZE)),
    KVM_SET_DEBUGREGS(iow(0xa2, DEBUGREGS_SIZE)),
    KVM_SET_TSC_KHZ(io(0xa2)),
    KVM_GET_TSC_KHZ(io(0xa3)),
    KVM_GET_XSAVE(ior(0xa4, XSAVE_SIZE)),
    KVM_SET_XSAVE(iow(0xa5, XSAVE_SIZE)),
    KVM_GET_XCRS(ior(0xa6, XCRS_SIZE)),
    KVM_SET_XCRS(iow(0xa7, XCRS_SIZE)),
    KVM_KVMCLOCK_CTRL(io(0xad)),
    KVM_GET_XSAVE2(ior(0xcf, XSAVE_SIZE));

    private static final int KVMIO = 0xae;

    /** The request number passed to ioctl(2). */
    public final long request;

    KvmIoctl(long request) {
        this.request = request;
    }

    private static long io(int nr) { return IoctlNumber.io(KVMIO, nr); }
    private static long ior(int nr, int size) { return IoctlNumber.ior(KVMIO, nr, size); }
    private static long iow(int nr, int size) { return IoctlNumber.iow(KVMIO, nr, size); }
    private static long iowr(int nr, int size) { return IoctlNumber.iowr(KVMIO, nr, size); }
}
