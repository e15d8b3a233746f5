package dev.stasis.vm;

import dev.stasis.arch.x86.CpuFeature;
import dev.stasis.memory.MemoryLayout;
import java.util.Set;

/**
 * What a VM is made of. Validated here so a bad request fails before anything is created.
 *
 * @param layout         guest RAM ranges
 * @param vcpus          number of vCPUs, 1..{@link #MAX_VCPUS}
 * @param maskedFeatures CPUID features hidden from the guest
 */
public record VmConfig(MemoryLayout layout, int vcpus, Set<CpuFeature> maskedFeatures) {
    public static final int MAX_VCPUS = 64;

    public VmConfig {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count must be 1.." + MAX_VCPUS + ", got " + vcpus);
        }
        maskedFeatures = Set.copyOf(maskedFeatures);
    }

    public static VmConfig of(long memorySize, int vcpus) {
        return new VmConfig(MemoryLayout.ofSize(memorySize), vcpus, Set.of());
    }

    public VmConfig withMaskedFeatures(Set<CpuFeature> features) {
        return new VmConfig(layout, vcpus, features);
    }
}
