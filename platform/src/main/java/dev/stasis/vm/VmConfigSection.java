package dev.stasis.vm;

import dev.stasis.arch.x86.CpuFeature;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import dev.stasis.snapshot.state.StateDescription;
import java.util.Arrays;
import java.util.Set;
import java.util.stream.Collectors;

/** The {@code vm} section: what the VM is made of, checked again on restore like any user input. */
public final class VmConfigSection {
    private VmConfigSection() {}

    static final StateDescription<MemoryRange> RANGE = StateDescription.of("memory_range", MemoryRange.class, 1)
            .u64("gpa", MemoryRange::gpa).u64("size", MemoryRange::size)
            .build(r -> new MemoryRange(r.getLong("gpa"), r.getLong("size")));

    public static final StateDescription<VmConfig> DESCRIPTION = StateDescription.of("vm", VmConfig.class, 1)
            .u32("vcpus", VmConfig::vcpus)
            .list("memory", RANGE, c -> c.layout().ranges())
            .string("masked_cpu_features", c -> c.maskedFeatures().stream().map(Enum::name).sorted().collect(Collectors.joining(",")))
            .build(r -> new VmConfig(new MemoryLayout(r.getList("memory").stream().map(RANGE::fromNormalized).toList()),
                    r.getInt("vcpus"), features(r.getString("masked_cpu_features"))));

    private static Set<CpuFeature> features(String list) {
        return list.isEmpty() ? Set.of() : Arrays.stream(list.split(",")).map(CpuFeature::parse).collect(Collectors.toSet());
    }
}
