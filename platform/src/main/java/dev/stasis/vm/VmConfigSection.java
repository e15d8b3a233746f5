package dev.stasis.vm;

import dev.stasis.arch.x86.cpu.CpuFeature;
import dev.stasis.arch.x86.cpu.FeatureSet;
import dev.stasis.arch.x86.cpu.FeatureWord;
import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.devices.debugexit.ExitPort;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateRecord;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The {@code vm} section: what the VM is made of, checked again on restore like any user input.
 * Version 2 added the CPU model (its name, whether it is portable, its feature registers, preset MSRs and
 * PMU), the boot protocol and the exit port's convention; a version 1 file (saved before CPU models) restores with {@link #UNRECORDED_MODEL}, whose CPUID is
 * whatever each saved vCPU carries.
 */
public final class VmConfigSection {
    private VmConfigSection() {}

    /** The model name a version 1 section gets: its guest's CPUID is the host's it was saved on. */
    public static final String UNRECORDED_MODEL = "host (saved before CPU models)";

    static final StateDescription<MemoryRange> RANGE = StateDescription.of("memory_range", MemoryRange.class, 1)
            .u64("gpa", MemoryRange::gpa).u64("size", MemoryRange::size)
            .build(r -> new MemoryRange(r.getLong("gpa"), r.getLong("size")));

    /** One feature register of the model. */
    record Word(FeatureWord word, int bits) {}

    static final StateDescription<Word> WORD = StateDescription.of("feature_word", Word.class, 1)
            .u32("leaf", w -> Integer.toUnsignedLong(w.word().leaf())).u32("subleaf", w -> Integer.toUnsignedLong(w.word().subleaf()))
            .string("register", w -> w.word().register().name().toLowerCase()).u32("bits", w -> Integer.toUnsignedLong(w.bits()))
            .build(r -> new Word(FeatureWord.find(r.getInt("leaf"), r.getInt("subleaf"), FeatureWord.Register.parse(r.getString("register"))),
                    r.getInt("bits")));

    record Msr(int index, long value) {}

    static final StateDescription<Msr> MSR = StateDescription.of("msr_value", Msr.class, 1)
            .u32("index", m -> Integer.toUnsignedLong(m.index())).u64("value", Msr::value)
            .build(r -> new Msr(r.getInt("index"), r.getLong("value")));

    public static final StateDescription<VmConfig> DESCRIPTION = StateDescription.of("vm", VmConfig.class, 2)
            .u32("vcpus", VmConfig::vcpus)
            .list("memory", RANGE, c -> c.layout().ranges())
            .string("masked_cpu_features", c -> c.cpu().masked().stream().map(Enum::name).sorted().collect(Collectors.joining(",")))
            .string("cpu_model", c -> c.cpu().model()).since(2, UNRECORDED_MODEL)
            .bool("cpu_portable", c -> c.cpu().portable()).since(2, false)
            .list("cpu_features", WORD, c -> c.cpu().features().words().entrySet().stream()
                    .map(e -> new Word(e.getKey(), e.getValue())).toList()).since(2, List.of())
            .list("cpu_msrs", MSR, c -> c.cpu().msrs().entrySet().stream().map(e -> new Msr(e.getKey(), e.getValue())).toList())
            .since(2, List.of())
            .bool("cpu_pmu", c -> c.cpu().pmu()).since(2, false)
            .string("boot", VmConfig::boot).since(2, "")
            .string("exit_port", c -> c.exit().name().toLowerCase(java.util.Locale.ROOT)).since(2, "stasis")
            .build(r -> new VmConfig(new MemoryLayout(r.getList("memory").stream().map(RANGE::fromNormalized).toList()),
                    r.getInt("vcpus"), cpu(r), r.getString("boot"), exit(r.getString("exit_port"))));

    private static ExitPort.Convention exit(String name) {
        try {
            return ExitPort.Convention.valueOf(name.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("exit_port '" + name + "' is neither stasis nor qemu");
        }
    }

    /**
     * {@code c} with its CPU's features taken from the CPUID its vCPU 0 was saved with, when its section is of
     * version 1 (saved before CPU models, so the model was not recorded): the restored guest then keeps the MSRs
     * and checks its features imply. Any other config is returned as it is.
     */
    public static VmConfig withSavedCpu(VmConfig c, java.util.function.Supplier<List<CpuidEntry>> vcpu0) {
        if (!c.cpu().model().equals(UNRECORDED_MODEL) || !c.cpu().features().isEmpty()) {
            return c; // every file since CPU models: vCPU 0's section is not decoded for this
        }
        return c.withCpu(new GuestCpu(UNRECORDED_MODEL, false, FeatureSet.fromCpuid(vcpu0.get()), Map.of(), false, c.cpu().masked()));
    }

    private static GuestCpu cpu(StateRecord r) {
        Map<FeatureWord, Integer> words = new LinkedHashMap<>();
        for (StateRecord w : r.getList("cpu_features")) {
            Word word = WORD.fromNormalized(w);
            if (words.put(word.word(), word.bits()) != null) {
                throw new IllegalArgumentException("cpu_features lists " + word.word().label() + " twice");
            }
        }
        Map<Integer, Long> msrs = new LinkedHashMap<>();
        for (StateRecord m : r.getList("cpu_msrs")) {
            Msr msr = MSR.fromNormalized(m);
            if (msrs.put(msr.index(), msr.value()) != null) {
                throw new IllegalArgumentException(String.format("cpu_msrs lists MSR 0x%x twice", msr.index()));
            }
        }
        return new GuestCpu(r.getString("cpu_model"), r.getBool("cpu_portable"), FeatureSet.ofWords(words), msrs,
                r.getBool("cpu_pmu"), features(r.getString("masked_cpu_features")));
    }

    private static Set<CpuFeature> features(String list) {
        return list.isEmpty() ? Set.of() : Arrays.stream(list.split(",")).map(CpuFeature::parse).collect(Collectors.toSet());
    }
}
