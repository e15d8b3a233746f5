package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.Capability;
import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.x86.CpuidEntry;
import java.util.List;
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
