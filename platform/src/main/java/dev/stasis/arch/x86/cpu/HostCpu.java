package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.Capability;
import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.x86.CpuidEntry;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * What a host can give a guest's CPU: KVM's supported CPUID, plus the features KVM offers through
 * capabilities rather than that table (the TSC-deadline timer), plus, on a KVM that shows a guest more
 * than it lists (some emulating KVMs let host features through), what a probe vCPU actually sees.
 * Built from a live {@link Kvm}, or from a recorded CPUID table to judge models against other hosts.
 */
public final class HostCpu {
    private final String name;
    private final List<CpuidEntry> supported;
    private final FeatureSet supportedFeatures;
    private final Supplier<FeatureSet> probe;
    private FeatureSet probed;
    /**
     * Answers worked out for this host, by question: the CPUID table built for a model and vCPU, and whether a table
     * can be presented. Both are pure in the host, which does not change, and every restore of a golden image asks
     * them again: in a JVM that clones a hundred times that code stays interpreted (0.5-1.5 ms a clone on a slow host).
     */
    private final Map<Object, Object> answers = Collections.synchronizedMap(new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Object, Object> eldest) {
            return size() > 64;
        }
    });

    private HostCpu(String name, List<CpuidEntry> supported, boolean tscDeadline, Supplier<FeatureSet> probe) {
        this.name = name;
        this.supported = List.copyOf(supported);
        FeatureSet f = FeatureSet.fromCpuid(supported);
        this.supportedFeatures = tscDeadline ? f.with(List.of(CpuFeature.TSC_DEADLINE)) : f;
        this.probe = probe;
    }

    /** This host, measured once per process: what KVM supports and a probe vCPU sees do not change while it runs. */
    private static volatile HostCpu thisHost;

    /** This host, through {@code kvm} (the first call measures; later ones reuse it, probe included). */
    public static HostCpu of(Kvm kvm) {
        HostCpu h = thisHost;
        if (h == null) {
            synchronized (HostCpu.class) {
                h = thisHost;
                if (h == null) {
                    h = new HostCpu("this host", kvm.supportedCpuid(), kvm.has(Capability.TSC_DEADLINE_TIMER), () -> CpuidProbe.guestVisible());
                    thisHost = h;
                }
            }
        }
        return h;
    }

    /** A host known by its CPUID table (what KVM supports or a guest saw there), e.g. test data of real CPUs. */
    public static HostCpu recorded(String name, List<CpuidEntry> cpuid) {
        return new HostCpu(name, cpuid, true, null);
    }

    public String name() {
        return name;
    }

    public List<CpuidEntry> supportedCpuid() {
        return supported;
    }

    /** The features KVM says it supports (and TSC-deadline when KVM has the capability). */
    public FeatureSet supportedFeatures() {
        return supportedFeatures;
    }

    /**
     * The features a guest here can have, given that it needs {@code needed}: those KVM supports, and when
     * that is not all of {@code needed}, also what a probe vCPU here actually sees (once per host object).
     */
    public synchronized FeatureSet presentable(FeatureSet needed) {
        if (needed.minus(supportedFeatures).isEmpty() || probe == null) {
            return supportedFeatures;
        }
        if (probed == null) {
            probed = probe.get();
        }
        return supportedFeatures.union(probed);
    }

    /**
     * What {@code compute} gives for {@code question} on this host, worked out once while it is among the last 64 asked.
     * A question is a record naming what it asks (so two kinds of question never meet) and {@code compute} must depend on
     * nothing else than it and this host; the answer must be immutable.
     */
    @SuppressWarnings("unchecked")
    <Q extends Record, A> A remembered(Q question, Function<Q, A> compute) {
        Object known = answers.get(question);
        if (known != null) {
            return (A) known;
        }
        A answer = compute.apply(question);
        answers.put(question, answer);
        return answer;
    }

    /** XSAVE components KVM supports (XCR0 bits, leaf 0xD.0 EDX:EAX). */
    public long xcr0() {
        CpuidEntry e = entry(0xd, 0);
        return e == null ? 0 : (Integer.toUnsignedLong(e.edx()) << 32) | Integer.toUnsignedLong(e.eax());
    }

    /** Bytes of the largest XSAVE area KVM supports (leaf 0xD.0 ECX), or 0. */
    public int xsaveMaxSize() {
        CpuidEntry e = entry(0xd, 0);
        return e == null ? 0 : e.ecx();
    }

    /** Guest-physical address bits (leaf 0x80000008 EAX[7:0]); 36 when the leaf is absent. */
    public int physicalAddressBits() {
        CpuidEntry e = entry(0x80000008, 0);
        return e == null || (e.eax() & 0xff) == 0 ? 36 : e.eax() & 0xff;
    }

    /** The entry for {@code leaf} (and {@code subleaf} where the leaf has sub-leaves), or null. */
    public CpuidEntry entry(int leaf, int subleaf) {
        for (CpuidEntry e : supported) {
            if (e.function() == leaf && (!FeatureWord.indexed(leaf) || e.index() == subleaf)) {
                return e;
            }
        }
        return null;
    }
}
