package dev.stasis.arch.x86.cpu;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The CPU a guest is given, resolved from its {@link CpuModel} on the host where it booted: the model's
 * name, whether it is portable (defined without reference to any host), its feature bits, MSR values
 * written at boot, and whether the PMU is exposed. It travels with the guest in the {@code vm} section, so
 * a restore or migration needs neither the model's file nor the first host.
 *
 * @param masked features hidden with {@code --cpuid-mask} (already absent from {@code features}), kept to say so
 */
public record GuestCpu(String model, boolean portable, FeatureSet features, Map<Integer, Long> msrs, boolean pmu,
                       Set<CpuFeature> masked) {

    public GuestCpu {
        msrs = Map.copyOf(new TreeMap<>(msrs));
        masked = masked.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(masked));
    }

    /** This CPU with {@code hidden} removed, and with every feature that needs one of them (hiding xsave hides avx). */
    public GuestCpu masking(Set<CpuFeature> hidden) {
        if (hidden.isEmpty()) {
            return this;
        }
        Set<CpuFeature> all = EnumSet.noneOf(CpuFeature.class);
        all.addAll(masked);
        all.addAll(hidden);
        return new GuestCpu(model, portable, features.without(hidden).withoutUnmetRequirements(), msrs, pmu, all);
    }

    /** "x86-64-v2 (portable)", "host (not portable: this host's CPU)", with the masked features if any. */
    public String describe() {
        return model + (portable ? " (portable)" : " (not portable: tied to the CPU of the host it booted on)")
                + (masked.isEmpty() ? "" : ", masked " + String.join(",", masked.stream().map(CpuFeature::key).sorted().toList()));
    }
}
