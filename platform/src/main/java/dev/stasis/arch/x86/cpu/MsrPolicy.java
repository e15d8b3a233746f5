package dev.stasis.arch.x86.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The MSRs that make up a vCPU's state: a declared list derived from the guest's CPU, not "every MSR KVM lists
 * that this vCPU can read" (that list differs per host: PMU counters, vendor MSRs), so a snapshot holds the
 * same MSRs wherever it was taken. IA32_TSC comes first and IA32_TSC_DEADLINE last: restore writes them in
 * this order, because the deadline is absolute guest TSC and KVM ignores it unless LVTT is in deadline mode.
 */
public final class MsrPolicy {
    private MsrPolicy() {}

    public static final int IA32_TSC = 0x10, IA32_TSC_ADJUST = 0x3b, IA32_SPEC_CTRL = 0x48, IA32_SYSENTER_CS = 0x174,
            IA32_SYSENTER_ESP = 0x175, IA32_SYSENTER_EIP = 0x176, IA32_MISC_ENABLE = 0x1a0, IA32_PAT = 0x277,
            IA32_TSC_DEADLINE = 0x6e0, IA32_XSS = 0xda0, STAR = 0xc0000081, LSTAR = 0xc0000082, CSTAR = 0xc0000083,
            SFMASK = 0xc0000084, KERNEL_GS_BASE = 0xc0000102, TSC_AUX = 0xc0000103, AMD64_VIRT_SPEC_CTRL = 0xc001011f,
            KVM_WALL_CLOCK = 0x11, KVM_SYSTEM_TIME = 0x12, KVM_WALL_CLOCK_NEW = 0x4b564d00, KVM_SYSTEM_TIME_NEW = 0x4b564d01,
            KVM_ASYNC_PF_EN = 0x4b564d02, KVM_STEAL_TIME = 0x4b564d03, KVM_PV_EOI_EN = 0x4b564d04,
            KVM_POLL_CONTROL = 0x4b564d05, KVM_ASYNC_PF_INT = 0x4b564d06, KVM_ASYNC_PF_ACK = 0x4b564d07;

    private static final Map<Integer, String> NAMES = Map.ofEntries(Map.entry(IA32_TSC, "IA32_TSC"),
            Map.entry(IA32_TSC_ADJUST, "IA32_TSC_ADJUST"), Map.entry(IA32_SPEC_CTRL, "IA32_SPEC_CTRL"),
            Map.entry(IA32_SYSENTER_CS, "IA32_SYSENTER_CS"), Map.entry(IA32_SYSENTER_ESP, "IA32_SYSENTER_ESP"),
            Map.entry(IA32_SYSENTER_EIP, "IA32_SYSENTER_EIP"), Map.entry(IA32_MISC_ENABLE, "IA32_MISC_ENABLE"),
            Map.entry(IA32_PAT, "IA32_PAT"), Map.entry(IA32_TSC_DEADLINE, "IA32_TSC_DEADLINE"), Map.entry(IA32_XSS, "IA32_XSS"),
            Map.entry(STAR, "STAR"), Map.entry(LSTAR, "LSTAR"), Map.entry(CSTAR, "CSTAR"), Map.entry(SFMASK, "SFMASK"),
            Map.entry(KERNEL_GS_BASE, "KERNEL_GS_BASE"), Map.entry(TSC_AUX, "TSC_AUX"),
            Map.entry(AMD64_VIRT_SPEC_CTRL, "VIRT_SPEC_CTRL"), Map.entry(KVM_WALL_CLOCK, "KVM_WALL_CLOCK"),
            Map.entry(KVM_SYSTEM_TIME, "KVM_SYSTEM_TIME"), Map.entry(KVM_WALL_CLOCK_NEW, "KVM_WALL_CLOCK_NEW"),
            Map.entry(KVM_SYSTEM_TIME_NEW, "KVM_SYSTEM_TIME_NEW"), Map.entry(KVM_ASYNC_PF_EN, "KVM_ASYNC_PF_EN"),
            Map.entry(KVM_STEAL_TIME, "KVM_STEAL_TIME"), Map.entry(KVM_PV_EOI_EN, "KVM_PV_EOI_EN"),
            Map.entry(KVM_POLL_CONTROL, "KVM_POLL_CONTROL"), Map.entry(KVM_ASYNC_PF_INT, "KVM_ASYNC_PF_INT"),
            Map.entry(KVM_ASYNC_PF_ACK, "KVM_ASYNC_PF_ACK"));

    /** The MSRs of a vCPU with this CPU, in restore order. */
    public static int[] forCpu(GuestCpu cpu) {
        FeatureSet f = cpu.features();
        List<Integer> l = new ArrayList<>();
        l.add(IA32_TSC);
        // Architectural: SYSENTER/SYSCALL entry points, swapgs base, PAT, MISC_ENABLE.
        l.addAll(List.of(IA32_SYSENTER_CS, IA32_SYSENTER_ESP, IA32_SYSENTER_EIP, STAR, LSTAR, CSTAR, SFMASK,
                KERNEL_GS_BASE, IA32_PAT, IA32_MISC_ENABLE));
        if (f.has(CpuFeature.TSC_ADJUST)) l.add(IA32_TSC_ADJUST);
        if (f.has(CpuFeature.RDTSCP) || f.has(CpuFeature.RDPID)) l.add(TSC_AUX);
        if (f.has(CpuFeature.SPEC_CTRL) || f.has(CpuFeature.AMD_IBRS) || f.has(CpuFeature.AMD_SSBD)) l.add(IA32_SPEC_CTRL);
        if (f.has(CpuFeature.VIRT_SSBD)) l.add(AMD64_VIRT_SPEC_CTRL);
        if (f.has(CpuFeature.XSAVES)) l.add(IA32_XSS);
        // KVM paravirtual: the clocks always (the guest may enable them whatever CPUID says), the rest by feature.
        l.addAll(List.of(KVM_WALL_CLOCK, KVM_SYSTEM_TIME, KVM_WALL_CLOCK_NEW, KVM_SYSTEM_TIME_NEW));
        if (f.has(CpuFeature.KVM_ASYNC_PF)) l.add(KVM_ASYNC_PF_EN);
        if (f.has(CpuFeature.KVM_ASYNC_PF_INT)) l.addAll(List.of(KVM_ASYNC_PF_INT, KVM_ASYNC_PF_ACK));
        if (f.has(CpuFeature.KVM_STEAL_TIME)) l.add(KVM_STEAL_TIME);
        if (f.has(CpuFeature.KVM_PV_EOI)) l.add(KVM_PV_EOI_EN);
        if (f.has(CpuFeature.KVM_POLL_CONTROL)) l.add(KVM_POLL_CONTROL);
        for (int index : cpu.msrs().keySet()) {
            if (!l.contains(index) && index != IA32_TSC_DEADLINE) {
                l.add(index);
            }
        }
        if (f.has(CpuFeature.TSC_DEADLINE)) l.add(IA32_TSC_DEADLINE);
        return l.stream().mapToInt(Integer::intValue).toArray();
    }

    /** "IA32_PAT (0x277)", or "MSR 0x1234" for one without a name here. */
    public static String describe(int index) {
        String n = NAMES.get(index);
        return n != null ? String.format("%s (0x%x)", n, index) : String.format("MSR 0x%x", index);
    }
}
