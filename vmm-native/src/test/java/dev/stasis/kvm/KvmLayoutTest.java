package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;
import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.x86.ClockData;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.kvm.x86.KvmLayout;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.testing.HeaderProgram;
import dev.stasis.os.LibC;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every KVM number the bindings hard-code, checked against this machine's {@code <linux/kvm.h>}: a C program
 * ({@code kvm_layout.c}) is compiled with gcc at test time and prints sizes, offsets, ioctl numbers,
 * capabilities and constants; each must equal the Java value of the same name. Needs gcc, not /dev/kvm.
 *
 * <p>Both directions are checked: a Java constant the C program does not print fails ("unchecked"), and
 * so does a C line no Java value answers, so neither side can grow alone.
 */
class KvmLayoutTest {
    private static final String SOURCE = "kvm_layout.c";
    private static Map<String, Long> fromC;

    @BeforeAll
    static void compileAndRun() throws Exception {
        fromC = HeaderProgram.run(KvmLayoutTest.class, SOURCE, "kvm-layout");
    }

    /** Everything the Java side claims, named as the C program prints it. */
    static Map<String, Long> javaValues() throws IllegalAccessException {
        Map<String, Long> m = new LinkedHashMap<>(KvmLayout.all());
        // KvmLayout numbers that all() does not name.
        m.put("sizeof kvm_irqchip.chip", (long) IRQCHIP_DATA_SIZE);
        m.put("offsetof kvm_run.hw", (long) RUN_EXIT_DATA);
        m.put("const KVM_MAX_XCRS", (long) MAX_XCRS);
        m.putAll(literalOffsets());
        for (KvmIoctl ioctl : KvmIoctl.values()) {
            m.put("ioctl " + ioctl.name(), ioctl.request);
        }
        for (Capability cap : Capability.values()) {
            m.put("cap " + cap.name(), (long) cap.number);
        }
        constants(m, Kvm.class, "KVM_");
        constants(m, KvmRun.class, "KVM_");
        constants(m, VcpuFd.class, "KVM_");
        constants(m, VmFd.class, "KVM_");
        constants(m, VcpuEvents.class, "KVM_VCPUEVENT_");
        constants(m, IrqchipState.class, "KVM_IRQCHIP_");
        constants(m, ClockData.class, "KVM_CLOCK_");
        constants(m, CpuidEntry.class, "KVM_CPUID_");
        constants(m, LibC.class, "");
        m.put("sizeof sigset_t", 128L); // VcpuKick.SIGSET_BYTES
        return m;
    }

    /**
     * Offsets the record classes use as literals or as arithmetic on a KvmLayout constant (Regs reads 18
     * longs in order, Sregs reads cr2..cr4 after cr0, VcpuEvents reads sub-fields by byte), and the
     * first-field offsets every wrapper assumes are 0.
     */
    private static Map<String, Long> literalOffsets() {
        Map<String, Long> m = new LinkedHashMap<>();
        put(m, "offsetof kvm_regs.rax", 0);
        put(m, "offsetof kvm_regs.rip", 16 * 8);
        put(m, "offsetof kvm_regs.rflags", 17 * 8);
        put(m, "offsetof kvm_sregs.cs", 0);
        put(m, "offsetof kvm_sregs.ldt", 7 * SEGMENT_SIZE);
        put(m, "offsetof kvm_sregs.cr2", SREGS_CR0 + 8);
        put(m, "offsetof kvm_sregs.cr3", SREGS_CR0 + 16);
        put(m, "offsetof kvm_sregs.cr4", SREGS_CR0 + 24);
        put(m, "offsetof kvm_dtable.base", 0);
        put(m, "offsetof kvm_dtable.limit", 8);
        put(m, "offsetof kvm_xcrs.nr_xcrs", 0);
        put(m, "offsetof kvm_xcr.xcr", 0);
        put(m, "offsetof kvm_xcr.value", 8);
        put(m, "offsetof kvm_msrs.nmsrs", 0);
        put(m, "offsetof kvm_msrs.entries", MSRS_HEADER_SIZE);
        put(m, "offsetof kvm_msr_entry.index", 0);
        put(m, "offsetof kvm_msr_entry.data", 8);
        put(m, "offsetof kvm_msr_list.nmsrs", 0);
        put(m, "offsetof kvm_msr_list.indices", MSR_LIST_HEADER_SIZE);
        put(m, "offsetof kvm_vcpu_events.exception.injected", 0);
        put(m, "offsetof kvm_vcpu_events.exception.nr", 1);
        put(m, "offsetof kvm_vcpu_events.exception.has_error_code", 2);
        put(m, "offsetof kvm_vcpu_events.exception.pending", 3);
        put(m, "offsetof kvm_vcpu_events.exception.error_code", 4);
        put(m, "offsetof kvm_vcpu_events.interrupt.nr", VCPU_EVENTS_INTERRUPT + 1);
        put(m, "offsetof kvm_vcpu_events.interrupt.soft", VCPU_EVENTS_INTERRUPT + 2);
        put(m, "offsetof kvm_vcpu_events.interrupt.shadow", VCPU_EVENTS_INTERRUPT + 3);
        put(m, "offsetof kvm_vcpu_events.nmi.pending", VCPU_EVENTS_NMI + 1);
        put(m, "offsetof kvm_vcpu_events.nmi.masked", VCPU_EVENTS_NMI + 2);
        put(m, "offsetof kvm_vcpu_events.smi.pending", VCPU_EVENTS_SMI + 1);
        put(m, "offsetof kvm_vcpu_events.smi.smm_inside_nmi", VCPU_EVENTS_SMI + 2);
        put(m, "offsetof kvm_vcpu_events.smi.latched_init", VCPU_EVENTS_SMI + 3);
        put(m, "offsetof kvm_debugregs.db", 0);
        put(m, "offsetof kvm_cpuid2.nent", 0);
        put(m, "offsetof kvm_cpuid2.entries", CPUID2_HEADER_SIZE);
        put(m, "offsetof kvm_cpuid_entry2.function", 0);
        put(m, "offsetof kvm_cpuid_entry2.index", 4);
        put(m, "offsetof kvm_cpuid_entry2.ebx", CPUID_ENTRY_EAX + 4);
        put(m, "offsetof kvm_cpuid_entry2.ecx", CPUID_ENTRY_EAX + 8);
        put(m, "offsetof kvm_userspace_memory_region.slot", 0);
        put(m, "offsetof kvm_clock_data.clock", 0);
        put(m, "offsetof kvm_irqchip.chip_id", 0);
        put(m, "offsetof kvm_pit_state2.channels", 0);
        put(m, "offsetof kvm_pit_channel_state.count", 0);
        put(m, "offsetof kvm_pit_config.flags", 0);
        put(m, "offsetof kvm_dirty_log.slot", 0);
        put(m, "offsetof kvm_clear_dirty_log.slot", 0);
        put(m, "offsetof kvm_irq_level.irq", 0);
        put(m, "offsetof kvm_irq_level.level", 4);
        put(m, "offsetof kvm_msi.address_lo", 0);
        put(m, "offsetof kvm_ioeventfd.datamatch", 0);
        put(m, "offsetof kvm_irqfd.fd", 0);
        put(m, "offsetof kvm_signal_mask.len", 0);
        put(m, "offsetof kvm_signal_mask.sigset", SIGNAL_MASK_HEADER_SIZE);
        put(m, "offsetof kvm_enable_cap.cap", 0);
        put(m, "offsetof kvm_enable_cap.args", 8);
        return m;
    }

    private static void put(Map<String, Long> m, String key, long value) {
        m.put(key, value);
    }

    /**
     * Every public static final int/long of {@code type}, as {@code "const " + prefix + NAME}, with the
     * few names the headers spell differently.
     */
    private static void constants(Map<String, Long> m, Class<?> type, String prefix) throws IllegalAccessException {
        for (Field f : type.getDeclaredFields()) {
            int mod = f.getModifiers();
            if (!Modifier.isPublic(mod) || !Modifier.isStatic(mod) || !Modifier.isFinal(mod)
                    || (f.getType() != int.class && f.getType() != long.class)) {
                continue;
            }
            String name = cName(type, prefix, f.getName());
            m.put("const " + name, ((Number) f.get(null)).longValue());
        }
    }

    private static String cName(Class<?> type, String prefix, String javaName) {
        if (type == KvmRun.class && javaName.startsWith("IO_")) {
            return "KVM_EXIT_" + javaName; // IO_IN -> KVM_EXIT_IO_IN
        }
        if (type == CpuidEntry.class && javaName.equals("FLAG_SIGNIFICANT_INDEX")) {
            return "KVM_CPUID_FLAG_SIGNIFCANT_INDEX"; // sic, as <linux/kvm.h> spells it
        }
        if (type == LibC.class && javaName.startsWith("SYS_")) {
            return "SYS_" + javaName.substring(4).toLowerCase(); // SYS_GETTID -> SYS_gettid
        }
        return prefix + javaName;
    }

    @Test
    void everyJavaValueEqualsWhatTheHeadersSay() throws Exception {
        List<String> problems = HeaderProgram.problems(javaValues(), fromC, SOURCE, "<linux/kvm.h>");
        assertTrue(problems.isEmpty(), problems.size() + " problem(s):\n  " + String.join("\n  ", problems));
    }

    @Test
    void everyLineOfTheCProgramIsAnsweredByAJavaValue() throws Exception {
        assertTrue(HeaderProgram.orphans(javaValues(), fromC).isEmpty(), SOURCE + " checks values the Java side does not have: " + HeaderProgram.orphans(javaValues(), fromC));
    }

    @Test
    void theProgramCoversEveryIoctlCapabilityAndLayoutEntry() {
        // Guards the both-ways check above against an empty or truncated program output.
        for (KvmIoctl ioctl : KvmIoctl.values()) {
            assertTrue(fromC.containsKey("ioctl " + ioctl.name()), ioctl.name());
        }
        for (Capability cap : Capability.values()) {
            assertTrue(fromC.containsKey("cap " + cap.name()), cap.name());
        }
        assertTrue(fromC.keySet().containsAll(KvmLayout.all().keySet()));
    }
}
