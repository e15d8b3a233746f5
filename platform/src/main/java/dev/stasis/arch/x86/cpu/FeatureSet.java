package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.x86.CpuidEntry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A set of CPU feature bits, one 32-bit mask per {@link FeatureWord}: what a model offers, what a host can
 * present, what a saved guest's CPUID shows. Immutable; words without bits are not stored, so two sets with
 * the same bits are equal.
 */
public final class FeatureSet {
    public static final FeatureSet EMPTY = new FeatureSet(Map.of());

    private final Map<FeatureWord, Integer> bits;

    private FeatureSet(Map<FeatureWord, Integer> bits) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>();
        for (FeatureWord w : FeatureWord.ALL) {
            int v = bits.getOrDefault(w, 0);
            if (v != 0) {
                m.put(w, v);
            }
        }
        this.bits = java.util.Collections.unmodifiableMap(m); // in FeatureWord.ALL order, so files are deterministic
    }

    public static FeatureSet of(Collection<CpuFeature> features) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>();
        for (CpuFeature f : features) {
            m.merge(f.word, f.mask(), (a, b) -> a | b);
        }
        return new FeatureSet(m);
    }

    public static FeatureSet of(CpuFeature... features) {
        return of(List.of(features));
    }

    public static FeatureSet ofWords(Map<FeatureWord, Integer> words) {
        return new FeatureSet(words);
    }

    /** The feature bits of a CPUID table (the bits that mirror guest state or mark a hypervisor left out). */
    public static FeatureSet fromCpuid(List<CpuidEntry> entries) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>();
        for (FeatureWord w : FeatureWord.ALL) {
            m.put(w, w.in(entries) & ~w.notFeatures());
        }
        return new FeatureSet(m);
    }

    public int get(FeatureWord word) {
        return bits.getOrDefault(word, 0);
    }

    public Map<FeatureWord, Integer> words() {
        return bits;
    }

    public boolean has(CpuFeature f) {
        return (get(f.word) & f.mask()) != 0;
    }

    public boolean isEmpty() {
        return bits.isEmpty();
    }

    public FeatureSet with(Collection<CpuFeature> features) {
        return union(of(features));
    }

    public FeatureSet without(Collection<CpuFeature> features) {
        return minus(of(features));
    }

    public FeatureSet union(FeatureSet other) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>(bits);
        other.bits.forEach((w, v) -> m.merge(w, v, (a, b) -> a | b));
        return new FeatureSet(m);
    }


    /** The bits of this set that {@code other} lacks. */
    public FeatureSet minus(FeatureSet other) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>();
        bits.forEach((w, v) -> m.put(w, v & ~other.get(w)));
        return new FeatureSet(m);
    }

    /** This set with {@code word} replaced by {@code value}. */
    public FeatureSet withWord(FeatureWord word, int value) {
        Map<FeatureWord, Integer> m = new LinkedHashMap<>(bits);
        m.put(word, value);
        return new FeatureSet(m);
    }

    /** The named features in this set. */
    public Set<CpuFeature> features() {
        Set<CpuFeature> out = EnumSet.noneOf(CpuFeature.class);
        for (CpuFeature f : CpuFeature.values()) {
            if (has(f)) {
                out.add(f);
            }
        }
        return out;
    }

    /** Every bit, named where it has a name: {@code ["avx512f (leaf 0x7.0 EBX bit 16)", "leaf 0x7.0 EBX bit 22"]}. */
    public List<String> describe() {
        List<String> out = new ArrayList<>();
        for (FeatureWord w : FeatureWord.ALL) {
            int v = get(w);
            for (int bit = 0; bit < 32; bit++) {
                if ((v & (1 << bit)) != 0) {
                    out.add(CpuFeature.describe(w, bit));
                }
            }
        }
        return out;
    }

    /** Each feature in this set whose prerequisite is not: {@code "avx2 needs avx"}. */
    public List<String> unmetRequirements() {
        List<String> out = new ArrayList<>();
        for (CpuFeature f : features()) {
            for (CpuFeature r : f.requires()) {
                if (!has(r)) {
                    out.add(f.key() + " needs " + r.key());
                }
            }
        }
        return out;
    }

    /** This set less every feature whose prerequisites are missing, transitively (hiding xsave hides avx). */
    public FeatureSet withoutUnmetRequirements() {
        FeatureSet s = this;
        boolean changed = true;
        while (changed) {
            changed = false;
            for (CpuFeature f : s.features()) {
                for (CpuFeature r : f.requires()) {
                    if (!s.has(r)) {
                        s = s.without(List.of(f));
                        changed = true;
                        break;
                    }
                }
            }
        }
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FeatureSet other && bits.equals(other.bits);
    }

    @Override
    public int hashCode() {
        return bits.hashCode();
    }

    @Override
    public String toString() {
        return String.join(", ", features().stream().map(CpuFeature::key).toList());
    }
}
