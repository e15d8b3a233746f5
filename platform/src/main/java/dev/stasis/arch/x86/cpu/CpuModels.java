package dev.stasis.arch.x86.cpu;

import static dev.stasis.arch.x86.cpu.CpuFeature.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The built-in CPU models: {@code host} and the x86-64 psABI micro-architecture levels.
 *
 * <p>A level's model is exactly the level's features (psABI "x86-64 micro-architecture levels"), the
 * architectural features every x86-64 CPU has, and what every vCPU of stasis needs: x2APIC, the TSC-deadline
 * timer and the KVM paravirtual features below. Nothing else, so a guest started on any host that has the
 * level can move to any other that has it.
 */
public final class CpuModels {
    private CpuModels() {}

    /** The default of {@code stasis run}: every x86-64 server CPU of the last decade, Intel or AMD, has it. */
    public static final String DEFAULT = "x86-64-v2";

    /** What any x86-64 CPU has (the psABI baseline, x86-64-v1, plus the architectural basics a kernel assumes). */
    static final Set<CpuFeature> BASELINE = EnumSet.of(FPU, VME, DE, PSE, TSC, MSR, PAE, MCE, CX8, APIC, SEP, MTRR, PGE,
            MCA, CMOV, PAT, PSE36, CLFLUSH, MMX, FXSR, SSE, SSE2, SYSCALL, NX, LM);

    /** What every stasis vCPU gets besides its level: the LAPIC modes and the KVM paravirtual interface. */
    static final Set<CpuFeature> VCPU = EnumSet.of(X2APIC, TSC_DEADLINE, KVM_CLOCKSOURCE, KVM_NOP_IO_DELAY,
            KVM_CLOCKSOURCE2, KVM_STEAL_TIME, KVM_PV_EOI, KVM_PV_UNHALT, KVM_PV_TLB_FLUSH, KVM_PV_SEND_IPI,
            KVM_POLL_CONTROL, KVM_PV_SCHED_YIELD, KVM_CLOCKSOURCE_STABLE);

    static final Set<CpuFeature> V2 = EnumSet.of(CX16, LAHF_LM, POPCNT, SSE3, SSE4_1, SSE4_2, SSSE3);
    static final Set<CpuFeature> V3 = EnumSet.of(AVX, AVX2, BMI1, BMI2, F16C, FMA, LZCNT, MOVBE, XSAVE);
    static final Set<CpuFeature> V4 = EnumSet.of(AVX512F, AVX512BW, AVX512CD, AVX512DQ, AVX512VL);

    public static final CpuModel HOST = new CpuModel() {
        @Override public String name() { return "host"; }
        @Override public String description() {
            return "every feature this host's KVM supports; fastest, but a guest can move only to hosts with the same CPU";
        }
        @Override public boolean portable() { return false; }
        @Override public GuestCpu resolve(HostCpu host) {
            FeatureSet f = CpuidBuilder.withStateIn(host.supportedFeatures().withoutUnmetRequirements(), host.xcr0());
            return new GuestCpu("host", false, f, Map.of(), false, Set.of());
        }
    };

    public static final CpuModel X86_64_V2 = level("x86-64-v2", "x86-64 psABI level 2 (SSE4.2, POPCNT, CX16): Intel Nehalem, AMD Bulldozer and later", V2);
    public static final CpuModel X86_64_V3 = level("x86-64-v3", "level 3 (AVX2, BMI2, FMA, MOVBE, XSAVE): Intel Haswell, AMD Zen and later", V2, V3);
    public static final CpuModel X86_64_V4 = level("x86-64-v4", "level 4 (AVX-512 F/BW/CD/DQ/VL): Intel Skylake-SP, AMD Zen 4 and later", V2, V3, V4);

    public static final List<CpuModel> BUILT_IN = List.of(HOST, X86_64_V2, X86_64_V3, X86_64_V4);

    @SafeVarargs
    private static CpuModel level(String name, String description, Set<CpuFeature>... levels) {
        Set<CpuFeature> all = EnumSet.copyOf(BASELINE);
        all.addAll(VCPU);
        for (Set<CpuFeature> l : levels) {
            all.addAll(l);
        }
        FeatureSet features = FeatureSet.of(all);
        return new CpuModel() {
            @Override public String name() { return name; }
            @Override public String description() { return description; }
            @Override public boolean portable() { return true; }
            @Override public GuestCpu resolve(HostCpu host) { return new GuestCpu(name, true, features, Map.of(), false, Set.of()); }
            @Override public String toString() { return name; }
        };
    }

    /**
     * A built-in model by name, or a custom model from a JSON file when {@code nameOrPath} names one (it
     * contains a '/' or ends in .json). An unknown name lists the known ones.
     */
    public static CpuModel find(String nameOrPath) throws IOException {
        for (CpuModel m : BUILT_IN) {
            if (m.name().equals(nameOrPath)) {
                return m;
            }
        }
        if (nameOrPath.contains("/") || nameOrPath.endsWith(".json")) {
            Path file = Path.of(nameOrPath);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("CPU model file " + file + ": no such file");
            }
            return CustomModelFile.parse(file);
        }
        List<String> names = new ArrayList<>();
        BUILT_IN.forEach(m -> names.add(m.name()));
        throw new IllegalArgumentException("unknown CPU model '" + nameOrPath + "'; known: " + String.join(", ", names)
                + ", or a JSON file (./mycpu.json)");
    }

    /** A built-in model by name, or null. */
    public static CpuModel builtIn(String name) {
        return BUILT_IN.stream().filter(m -> m.name().equals(name)).findFirst().orElse(null);
    }
}
