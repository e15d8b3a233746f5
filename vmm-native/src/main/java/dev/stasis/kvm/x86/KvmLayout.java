package dev.stasis.kvm.x86;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Sizes and field offsets of the x86-64 KVM structures, as {@code <linux/kvm.h>} and {@code <asm/kvm.h>}
 * lay them out. Every number here is checked against the machine's headers by {@code KvmLayoutTest},
 * which compiles a C program with gcc; {@link #all()} names them the way that program prints them.
 */
public final class KvmLayout {
    private KvmLayout() {}

    public static final int REGS_SIZE = 144;
    public static final int SEGMENT_SIZE = 24;
    public static final int DTABLE_SIZE = 16;
    public static final int SREGS_SIZE = 312;
    public static final int SREGS_GDT = 192, SREGS_IDT = 208, SREGS_CR0 = 224, SREGS_CR8 = 256, SREGS_EFER = 264,
            SREGS_APIC_BASE = 272, SREGS_INTERRUPT_BITMAP = 280;
    public static final int SEGMENT_BASE = 0, SEGMENT_LIMIT = 8, SEGMENT_SELECTOR = 12, SEGMENT_TYPE = 14,
            SEGMENT_PRESENT = 15, SEGMENT_DPL = 16, SEGMENT_DB = 17, SEGMENT_S = 18, SEGMENT_L = 19, SEGMENT_G = 20,
            SEGMENT_AVL = 21, SEGMENT_UNUSABLE = 22;
    public static final int FPU_SIZE = 416;
    public static final int FPU_FCW = 128, FPU_XMM = 152, FPU_MXCSR = 408;
    public static final int XSAVE_SIZE = 4096;
    public static final int XCRS_SIZE = 392, XCRS_XCRS = 8, XCR_SIZE = 16, MAX_XCRS = 16;
    public static final int MSRS_HEADER_SIZE = 8, MSR_ENTRY_SIZE = 16;
    public static final int MSR_LIST_HEADER_SIZE = 4;
    public static final int LAPIC_SIZE = 1024;
    public static final int MP_STATE_SIZE = 4;
    public static final int VCPU_EVENTS_SIZE = 64;
    public static final int VCPU_EVENTS_INTERRUPT = 8, VCPU_EVENTS_NMI = 12, VCPU_EVENTS_SIPI_VECTOR = 16,
            VCPU_EVENTS_FLAGS = 20, VCPU_EVENTS_SMI = 24, VCPU_EVENTS_TRIPLE_FAULT = 28,
            VCPU_EVENTS_EXCEPTION_HAS_PAYLOAD = 55, VCPU_EVENTS_EXCEPTION_PAYLOAD = 56;
    public static final int DEBUGREGS_SIZE = 128, DEBUGREGS_DR6 = 32, DEBUGREGS_DR7 = 40, DEBUGREGS_FLAGS = 48;
    public static final int CPUID2_HEADER_SIZE = 8, CPUID_ENTRY_SIZE = 40;
    public static final int CPUID_ENTRY_FLAGS = 8, CPUID_ENTRY_EAX = 12, CPUID_ENTRY_EDX = 24;
    public static final int MEMORY_REGION_SIZE = 32;
    public static final int MEMORY_REGION_FLAGS = 4, MEMORY_REGION_GPA = 8, MEMORY_REGION_SIZE_FIELD = 16, MEMORY_REGION_USERSPACE_ADDR = 24;
    public static final int CLOCK_DATA_SIZE = 48, CLOCK_DATA_FLAGS = 8, CLOCK_DATA_REALTIME = 16, CLOCK_DATA_HOST_TSC = 24;
    public static final int IRQCHIP_SIZE = 520, IRQCHIP_CHIP = 8, IRQCHIP_DATA_SIZE = 512;
    public static final int PIT_STATE2_SIZE = 112, PIT_STATE2_FLAGS = 72, PIT_CHANNEL_SIZE = 24;
    public static final int PIT_CHANNEL_LATCHED_COUNT = 4, PIT_CHANNEL_COUNT_LATCHED = 6, PIT_CHANNEL_STATUS_LATCHED = 7,
            PIT_CHANNEL_STATUS = 8, PIT_CHANNEL_READ_STATE = 9, PIT_CHANNEL_WRITE_STATE = 10, PIT_CHANNEL_WRITE_LATCH = 11,
            PIT_CHANNEL_RW_MODE = 12, PIT_CHANNEL_MODE = 13, PIT_CHANNEL_BCD = 14, PIT_CHANNEL_GATE = 15,
            PIT_CHANNEL_COUNT_LOAD_TIME = 16;
    public static final int PIT_CONFIG_SIZE = 64;
    public static final int DIRTY_LOG_SIZE = 16, DIRTY_LOG_BITMAP = 8;
    public static final int CLEAR_DIRTY_LOG_SIZE = 24, CLEAR_DIRTY_LOG_NUM_PAGES = 4, CLEAR_DIRTY_LOG_FIRST_PAGE = 8, CLEAR_DIRTY_LOG_BITMAP = 16;
    public static final int IRQ_LEVEL_SIZE = 8;
    public static final int MSI_SIZE = 32, MSI_ADDRESS_HI = 4, MSI_DATA = 8, MSI_FLAGS = 12;
    public static final int SIGNAL_MASK_HEADER_SIZE = 4;
    public static final int IOEVENTFD_SIZE = 64, IOEVENTFD_ADDR = 8, IOEVENTFD_LEN = 16, IOEVENTFD_FD = 20, IOEVENTFD_FLAGS = 24;
    public static final int IRQFD_SIZE = 32, IRQFD_GSI = 4, IRQFD_FLAGS = 8;
    public static final int ENABLE_CAP_SIZE = 104;

    /** kvm_run, the page shared with the kernel per vCPU. */
    public static final int RUN_SIZE = 2352;
    public static final int RUN_REQUEST_INTERRUPT_WINDOW = 0, RUN_IMMEDIATE_EXIT = 1, RUN_EXIT_REASON = 8,
            RUN_READY_FOR_INTERRUPT_INJECTION = 12, RUN_IF_FLAG = 13, RUN_CR8 = 16, RUN_APIC_BASE = 24,
            RUN_EXIT_DATA = 32, RUN_SYNC_REGS = 304;
    public static final int RUN_IO_DIRECTION = 32, RUN_IO_SIZE = 33, RUN_IO_PORT = 34, RUN_IO_COUNT = 36, RUN_IO_DATA_OFFSET = 40;
    public static final int RUN_MMIO_PHYS_ADDR = 32, RUN_MMIO_DATA = 40, RUN_MMIO_LEN = 48, RUN_MMIO_IS_WRITE = 52;
    public static final int RUN_INTERNAL_SUBERROR = 32, RUN_INTERNAL_NDATA = 36, RUN_INTERNAL_DATA = 40;
    public static final int RUN_FAIL_ENTRY_REASON = 32, RUN_SYSTEM_EVENT_TYPE = 32, RUN_HW_EXIT_REASON = 32;

    /** Every number above, named as the gcc layout program prints it ("sizeof kvm_regs", "offsetof kvm_run.io.port"). */
    public static Map<String, Long> all() {
        Map<String, Long> m = new LinkedHashMap<>();
        size(m, "kvm_regs", REGS_SIZE);
        size(m, "kvm_sregs", SREGS_SIZE);
        size(m, "kvm_segment", SEGMENT_SIZE);
        size(m, "kvm_dtable", DTABLE_SIZE);
        size(m, "kvm_fpu", FPU_SIZE);
        size(m, "kvm_xsave", XSAVE_SIZE);
        size(m, "kvm_xcrs", XCRS_SIZE);
        size(m, "kvm_xcr", XCR_SIZE);
        size(m, "kvm_msrs", MSRS_HEADER_SIZE);
        size(m, "kvm_msr_entry", MSR_ENTRY_SIZE);
        size(m, "kvm_msr_list", MSR_LIST_HEADER_SIZE);
        size(m, "kvm_lapic_state", LAPIC_SIZE);
        size(m, "kvm_mp_state", MP_STATE_SIZE);
        size(m, "kvm_vcpu_events", VCPU_EVENTS_SIZE);
        size(m, "kvm_debugregs", DEBUGREGS_SIZE);
        size(m, "kvm_cpuid2", CPUID2_HEADER_SIZE);
        size(m, "kvm_cpuid_entry2", CPUID_ENTRY_SIZE);
        size(m, "kvm_userspace_memory_region", MEMORY_REGION_SIZE);
        size(m, "kvm_clock_data", CLOCK_DATA_SIZE);
        size(m, "kvm_irqchip", IRQCHIP_SIZE);
        size(m, "kvm_pit_state2", PIT_STATE2_SIZE);
        size(m, "kvm_pit_channel_state", PIT_CHANNEL_SIZE);
        size(m, "kvm_pit_config", PIT_CONFIG_SIZE);
        size(m, "kvm_dirty_log", DIRTY_LOG_SIZE);
        size(m, "kvm_clear_dirty_log", CLEAR_DIRTY_LOG_SIZE);
        size(m, "kvm_irq_level", IRQ_LEVEL_SIZE);
        size(m, "kvm_msi", MSI_SIZE);
        size(m, "kvm_ioeventfd", IOEVENTFD_SIZE);
        size(m, "kvm_irqfd", IRQFD_SIZE);
        size(m, "kvm_signal_mask", SIGNAL_MASK_HEADER_SIZE);
        size(m, "kvm_enable_cap", ENABLE_CAP_SIZE);
        size(m, "kvm_run", RUN_SIZE);

        offset(m, "kvm_sregs.gdt", SREGS_GDT);
        offset(m, "kvm_sregs.idt", SREGS_IDT);
        offset(m, "kvm_sregs.cr0", SREGS_CR0);
        offset(m, "kvm_sregs.cr8", SREGS_CR8);
        offset(m, "kvm_sregs.efer", SREGS_EFER);
        offset(m, "kvm_sregs.apic_base", SREGS_APIC_BASE);
        offset(m, "kvm_sregs.interrupt_bitmap", SREGS_INTERRUPT_BITMAP);
        offset(m, "kvm_segment.base", SEGMENT_BASE);
        offset(m, "kvm_segment.limit", SEGMENT_LIMIT);
        offset(m, "kvm_segment.selector", SEGMENT_SELECTOR);
        offset(m, "kvm_segment.type", SEGMENT_TYPE);
        offset(m, "kvm_segment.present", SEGMENT_PRESENT);
        offset(m, "kvm_segment.dpl", SEGMENT_DPL);
        offset(m, "kvm_segment.db", SEGMENT_DB);
        offset(m, "kvm_segment.s", SEGMENT_S);
        offset(m, "kvm_segment.l", SEGMENT_L);
        offset(m, "kvm_segment.g", SEGMENT_G);
        offset(m, "kvm_segment.avl", SEGMENT_AVL);
        offset(m, "kvm_segment.unusable", SEGMENT_UNUSABLE);
        offset(m, "kvm_fpu.fcw", FPU_FCW);
        offset(m, "kvm_fpu.xmm", FPU_XMM);
        offset(m, "kvm_fpu.mxcsr", FPU_MXCSR);
        offset(m, "kvm_xcrs.xcrs", XCRS_XCRS);
        offset(m, "kvm_vcpu_events.interrupt", VCPU_EVENTS_INTERRUPT);
        offset(m, "kvm_vcpu_events.nmi", VCPU_EVENTS_NMI);
        offset(m, "kvm_vcpu_events.sipi_vector", VCPU_EVENTS_SIPI_VECTOR);
        offset(m, "kvm_vcpu_events.flags", VCPU_EVENTS_FLAGS);
        offset(m, "kvm_vcpu_events.smi", VCPU_EVENTS_SMI);
        offset(m, "kvm_vcpu_events.triple_fault", VCPU_EVENTS_TRIPLE_FAULT);
        offset(m, "kvm_vcpu_events.exception_has_payload", VCPU_EVENTS_EXCEPTION_HAS_PAYLOAD);
        offset(m, "kvm_vcpu_events.exception_payload", VCPU_EVENTS_EXCEPTION_PAYLOAD);
        offset(m, "kvm_debugregs.dr6", DEBUGREGS_DR6);
        offset(m, "kvm_debugregs.dr7", DEBUGREGS_DR7);
        offset(m, "kvm_debugregs.flags", DEBUGREGS_FLAGS);
        offset(m, "kvm_cpuid_entry2.flags", CPUID_ENTRY_FLAGS);
        offset(m, "kvm_cpuid_entry2.eax", CPUID_ENTRY_EAX);
        offset(m, "kvm_cpuid_entry2.edx", CPUID_ENTRY_EDX);
        offset(m, "kvm_userspace_memory_region.flags", MEMORY_REGION_FLAGS);
        offset(m, "kvm_userspace_memory_region.guest_phys_addr", MEMORY_REGION_GPA);
        offset(m, "kvm_userspace_memory_region.memory_size", MEMORY_REGION_SIZE_FIELD);
        offset(m, "kvm_userspace_memory_region.userspace_addr", MEMORY_REGION_USERSPACE_ADDR);
        offset(m, "kvm_clock_data.flags", CLOCK_DATA_FLAGS);
        offset(m, "kvm_clock_data.realtime", CLOCK_DATA_REALTIME);
        offset(m, "kvm_clock_data.host_tsc", CLOCK_DATA_HOST_TSC);
        offset(m, "kvm_irqchip.chip", IRQCHIP_CHIP);
        offset(m, "kvm_pit_state2.flags", PIT_STATE2_FLAGS);
        offset(m, "kvm_pit_channel_state.latched_count", PIT_CHANNEL_LATCHED_COUNT);
        offset(m, "kvm_pit_channel_state.count_latched", PIT_CHANNEL_COUNT_LATCHED);
        offset(m, "kvm_pit_channel_state.status_latched", PIT_CHANNEL_STATUS_LATCHED);
        offset(m, "kvm_pit_channel_state.status", PIT_CHANNEL_STATUS);
        offset(m, "kvm_pit_channel_state.read_state", PIT_CHANNEL_READ_STATE);
        offset(m, "kvm_pit_channel_state.write_state", PIT_CHANNEL_WRITE_STATE);
        offset(m, "kvm_pit_channel_state.write_latch", PIT_CHANNEL_WRITE_LATCH);
        offset(m, "kvm_pit_channel_state.rw_mode", PIT_CHANNEL_RW_MODE);
        offset(m, "kvm_pit_channel_state.mode", PIT_CHANNEL_MODE);
        offset(m, "kvm_pit_channel_state.bcd", PIT_CHANNEL_BCD);
        offset(m, "kvm_pit_channel_state.gate", PIT_CHANNEL_GATE);
        offset(m, "kvm_pit_channel_state.count_load_time", PIT_CHANNEL_COUNT_LOAD_TIME);
        offset(m, "kvm_dirty_log.dirty_bitmap", DIRTY_LOG_BITMAP);
        offset(m, "kvm_clear_dirty_log.num_pages", CLEAR_DIRTY_LOG_NUM_PAGES);
        offset(m, "kvm_clear_dirty_log.first_page", CLEAR_DIRTY_LOG_FIRST_PAGE);
        offset(m, "kvm_clear_dirty_log.dirty_bitmap", CLEAR_DIRTY_LOG_BITMAP);
        offset(m, "kvm_msi.address_hi", MSI_ADDRESS_HI);
        offset(m, "kvm_msi.data", MSI_DATA);
        offset(m, "kvm_msi.flags", MSI_FLAGS);
        offset(m, "kvm_ioeventfd.addr", IOEVENTFD_ADDR);
        offset(m, "kvm_ioeventfd.len", IOEVENTFD_LEN);
        offset(m, "kvm_ioeventfd.fd", IOEVENTFD_FD);
        offset(m, "kvm_ioeventfd.flags", IOEVENTFD_FLAGS);
        offset(m, "kvm_irqfd.gsi", IRQFD_GSI);
        offset(m, "kvm_irqfd.flags", IRQFD_FLAGS);
        offset(m, "kvm_run.request_interrupt_window", RUN_REQUEST_INTERRUPT_WINDOW);
        offset(m, "kvm_run.immediate_exit", RUN_IMMEDIATE_EXIT);
        offset(m, "kvm_run.exit_reason", RUN_EXIT_REASON);
        offset(m, "kvm_run.ready_for_interrupt_injection", RUN_READY_FOR_INTERRUPT_INJECTION);
        offset(m, "kvm_run.if_flag", RUN_IF_FLAG);
        offset(m, "kvm_run.cr8", RUN_CR8);
        offset(m, "kvm_run.apic_base", RUN_APIC_BASE);
        offset(m, "kvm_run.s", RUN_SYNC_REGS);
        offset(m, "kvm_run.io.direction", RUN_IO_DIRECTION);
        offset(m, "kvm_run.io.size", RUN_IO_SIZE);
        offset(m, "kvm_run.io.port", RUN_IO_PORT);
        offset(m, "kvm_run.io.count", RUN_IO_COUNT);
        offset(m, "kvm_run.io.data_offset", RUN_IO_DATA_OFFSET);
        offset(m, "kvm_run.mmio.phys_addr", RUN_MMIO_PHYS_ADDR);
        offset(m, "kvm_run.mmio.data", RUN_MMIO_DATA);
        offset(m, "kvm_run.mmio.len", RUN_MMIO_LEN);
        offset(m, "kvm_run.mmio.is_write", RUN_MMIO_IS_WRITE);
        offset(m, "kvm_run.internal.suberror", RUN_INTERNAL_SUBERROR);
        offset(m, "kvm_run.internal.ndata", RUN_INTERNAL_NDATA);
        offset(m, "kvm_run.internal.data", RUN_INTERNAL_DATA);
        offset(m, "kvm_run.fail_entry.hardware_entry_failure_reason", RUN_FAIL_ENTRY_REASON);
        offset(m, "kvm_run.system_event.type", RUN_SYSTEM_EVENT_TYPE);
        offset(m, "kvm_run.hw.hardware_exit_reason", RUN_HW_EXIT_REASON);
        return m;
    }

    private static void size(Map<String, Long> m, String struct, int size) {
        m.put("sizeof " + struct, (long) size);
    }

    private static void offset(Map<String, Long> m, String field, int offset) {
        m.put("offsetof " + field, (long) offset);
    }
}
