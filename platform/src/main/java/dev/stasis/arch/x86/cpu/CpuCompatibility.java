package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.snapshot.state.StateException;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a host can present a guest's CPU: every feature bit its CPUID shows (all {@link FeatureWord}s),
 * its XSAVE components with their offsets and the area size, and its physical address width. Otherwise the guest would meet #UD,
 * a KVM error or lost register state later, far from the cause; {@code run}, restore, migration and
 * {@code stasis cpu check} refuse it up front, naming each feature.
 */
public final class CpuCompatibility {
    private CpuCompatibility() {}

    /** Every reason {@code host} cannot run a vCPU with this CPUID table; empty when it can. */
    public static List<String> problems(List<CpuidEntry> guest, HostCpu host) {
        List<String> out = new ArrayList<>();
        FeatureSet needed = FeatureSet.fromCpuid(guest);
        FeatureSet missing = needed.minus(host.presentable(needed));
        if (!missing.isEmpty()) {
            out.add("features " + host.name() + " cannot give a guest: " + String.join(", ", missing.describe()));
        }
        long xcr0 = xcr0(guest);
        long missingComponents = xcr0 & ~(host.xcr0() | 0b11);
        if (missingComponents != 0) {
            out.add(String.format("XSAVE components 0x%x (XCR0 bits) that %s's KVM does not support", missingComponents, host.name()));
        }
        for (int bit = 2; bit < 64; bit++) {
            if ((xcr0 & (1L << bit)) == 0 || (missingComponents & (1L << bit)) != 0) {
                continue;
            }
            CpuidEntry g = entry(guest, 0xd, bit), h = host.entry(0xd, bit);
            if (g != null && h != null && (g.eax() != h.eax() || g.ebx() != h.ebx())) {
                out.add(String.format("XSAVE component %d (XCR0 bit %d) at offset %d, %d bytes, where %s has it at %d, %d bytes"
                        + " (the guest's XSAVE buffers are laid out for the CPU it booted on)", bit, bit, g.ebx(), g.eax(), host.name(), h.ebx(), h.eax()));
            }
        }
        int size = xsaveEntry(guest) == null ? 0 : xsaveEntry(guest).ecx();
        if (xcr0 != 0 && host.xsaveMaxSize() != 0 && size > host.xsaveMaxSize()) {
            out.add("an XSAVE area of " + size + " bytes, larger than the " + host.xsaveMaxSize() + " of " + host.name());
        }
        int physBits = physicalAddressBits(guest);
        if (physBits > host.physicalAddressBits()) {
            out.add(physBits + "-bit guest-physical addresses; " + host.name() + " has " + host.physicalAddressBits());
        }
        return out;
    }

    private record Problems(List<CpuidEntry> guest) {}

    /** Throws a {@link StateException} ("the guest's CPU needs ...") when {@link #problems} finds any. */
    public static void check(List<CpuidEntry> guest, HostCpu host, String what) {
        List<String> p = host.remembered(new Problems(List.copyOf(guest)), q -> List.copyOf(problems(q.guest(), host)));
        if (!p.isEmpty()) {
            throw new StateException(what + " needs " + String.join("; and ", p));
        }
    }

    static long xcr0(List<CpuidEntry> cpuid) {
        CpuidEntry e = xsaveEntry(cpuid);
        return e == null ? 0 : (Integer.toUnsignedLong(e.edx()) << 32) | Integer.toUnsignedLong(e.eax());
    }

    private static CpuidEntry xsaveEntry(List<CpuidEntry> cpuid) {
        return entry(cpuid, 0xd, 0);
    }

    private static CpuidEntry entry(List<CpuidEntry> cpuid, int leaf, int subleaf) {
        return cpuid.stream().filter(e -> e.function() == leaf && e.index() == subleaf).findFirst().orElse(null);
    }

    private static int physicalAddressBits(List<CpuidEntry> cpuid) {
        return cpuid.stream().filter(e -> e.function() == 0x80000008).mapToInt(e -> e.eax() & 0xff).findFirst().orElse(0);
    }
}
