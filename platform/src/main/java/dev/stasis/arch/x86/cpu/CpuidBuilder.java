package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.x86.CpuidEntry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The CPUID table of one vCPU: the {@link GuestCpu}'s feature bits, and every other leaf normalized so that
 * it describes the guest, never the host it happens to run on:
 * <ul>
 *   <li>topology (0x1 EBX, 0x4, 0xB, 0x1F, 0x80000008 ECX, 0x8000001E): each vCPU one core of one package,
 *       one thread per core, APIC ID = vCPU index;</li>
 *   <li>caches (0x2, 0x4, 0x80000006, 0x8000001D): one fixed hierarchy (32 KiB L1d and L1i, 1 MiB L2 per
 *       core, 16 MiB L3 shared);</li>
 *   <li>PMU (0xA): zero unless the CPU asks for it;</li>
 *   <li>brand string (0x80000002-4): "stasis MODEL";</li>
 *   <li>XSAVE (0xD): only the components the features enable, at the boot host's offsets, with sizes that add up.</li>
 * </ul>
 * A portable CPU gets a fixed set of leaves (basic up to 0xD, extended up to 0x80000008) and 40-bit physical
 * addresses; only the vendor and the family/model/stepping come from the boot host, and they then travel with
 * the guest. The host model keeps the host's other leaves as KVM reports them.
 */
public final class CpuidBuilder {
    private CpuidBuilder() {}

    private static final int FLAG_INDEXED = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
    private static final int PORTABLE_MAX_BASIC = 0xd, PORTABLE_MAX_EXTENDED = 0x80000008;
    private static final int PORTABLE_PHYS_BITS = 40, PORTABLE_VIRT_BITS = 48;

    /** XSAVE component: XCR0 bit, and size and standard-format offset as Intel CPUs have them (used where a host does not say). */
    private record Component(int bit, int size, int offset) {}

    private static final List<Component> COMPONENTS = List.of(new Component(2, 256, 576), new Component(3, 64, 960),
            new Component(4, 64, 1024), new Component(5, 64, 1088), new Component(6, 512, 1152), new Component(7, 1024, 1664),
            new Component(9, 8, 2688), new Component(17, 64, 2752), new Component(18, 8192, 2816));

    /** The XCR0 bits a feature set enables: x87 and SSE with XSAVE, then AVX, MPX, AVX-512, PKRU, AMX. */
    public static long xcr0(FeatureSet f) {
        if (!f.has(CpuFeature.XSAVE)) {
            return 0;
        }
        long x = 0b11;
        if (f.has(CpuFeature.AVX)) x |= 1L << 2;
        if (f.has(CpuFeature.MPX)) x |= (1L << 3) | (1L << 4);
        if (f.has(CpuFeature.AVX512F)) x |= (1L << 5) | (1L << 6) | (1L << 7);
        if (f.has(CpuFeature.PKU)) x |= 1L << 9;
        if (f.has(CpuFeature.AMX_TILE)) x |= (1L << 17) | (1L << 18);
        return x;
    }

    /**
     * {@code f} less the features whose XSAVE state {@code xcr0} cannot hold (and what needs them): a host may list
     * AMX or AVX-512 while its KVM offers no state for them (AMX until the VMM asks for permission).
     */
    public static FeatureSet withStateIn(FeatureSet f, long xcr0) {
        List<CpuFeature> drop = new ArrayList<>();
        if ((xcr0 & 0b11) != 0b11) drop.add(CpuFeature.XSAVE);
        if ((xcr0 & (1L << 2)) == 0) drop.add(CpuFeature.AVX);
        if ((xcr0 & 0b11000) != 0b11000) drop.add(CpuFeature.MPX);
        if ((xcr0 & 0b11100000) != 0b11100000) drop.add(CpuFeature.AVX512F);
        if ((xcr0 & (1L << 9)) == 0) drop.add(CpuFeature.PKU);
        if ((xcr0 & (3L << 17)) != (3L << 17)) drop.add(CpuFeature.AMX_TILE);
        return f.without(drop).withoutUnmetRequirements();
    }

    private record Table(GuestCpu cpu, int vcpuId, int vcpuCount) {}

    /** vCPU {@code vcpuId}'s CPUID table (of {@code vcpuCount}) for {@code cpu} on {@code host}; immutable. */
    public static List<CpuidEntry> build(GuestCpu cpu, HostCpu host, int vcpuId, int vcpuCount) {
        return host.remembered(new Table(cpu, vcpuId, vcpuCount), t -> List.copyOf(compute(cpu, host, vcpuId, vcpuCount)));
    }

    private static List<CpuidEntry> compute(GuestCpu cpu, HostCpu host, int vcpuId, int vcpuCount) {
        List<CpuidEntry> out = new ArrayList<>();
        FeatureSet f = cpu.features();
        long xcr0 = xcr0(f) & (cpu.portable() ? ~0L : host.xcr0() | 0b11);
        CpuidEntry hostLeaf0 = orZero(host.entry(0, 0), 0, 0);
        int maxBasic = cpu.portable() ? PORTABLE_MAX_BASIC : Math.min(hostLeaf0.eax(), 0x1f);
        CpuidEntry hostExt0 = orZero(host.entry(0x80000000, 0), 0x80000000, 0);
        int maxExt = cpu.portable() ? PORTABLE_MAX_EXTENDED : Math.max(hostExt0.eax(), PORTABLE_MAX_EXTENDED);
        int signature = orZero(host.entry(1, 0), 1, 0).eax();
        boolean amd = hostLeaf0.ebx() == 0x68747541; // "Auth"enticAMD

        out.add(entry(0, 0, 0, maxBasic, hostLeaf0.ebx(), hostLeaf0.ecx(), hostLeaf0.edx()));
        int ebx1 = (vcpuId << 24) | (Math.min(vcpuCount, 255) << 16) | (8 << 8); // APIC ID, logical count, CLFLUSH 64 B
        int edx1 = f.get(FeatureWord.L1_EDX) | (vcpuCount > 1 ? CpuFeature.HT.mask() : 0);
        out.add(entry(1, 0, 0, signature, ebx1, f.get(FeatureWord.L1_ECX) | (1 << 31), edx1));
        out.add(entry(2, 0, 0, 0x0000ff01, 0, 0, 0)); // descriptor 0xFF: "see leaf 4"
        out.addAll(caches(4, vcpuCount));
        out.add(entry(6, 0, 0, f.get(FeatureWord.L6_EAX), 0, 0, 0));
        int max7 = f.get(FeatureWord.L7_2_EDX) != 0 ? 2 : f.get(FeatureWord.L7_1_EAX) != 0 || f.get(FeatureWord.L7_1_EDX) != 0 ? 1 : 0;
        out.add(entry(7, 0, FLAG_INDEXED, max7, f.get(FeatureWord.L7_0_EBX), f.get(FeatureWord.L7_0_ECX), f.get(FeatureWord.L7_0_EDX)));
        if (max7 >= 1) {
            out.add(entry(7, 1, FLAG_INDEXED, f.get(FeatureWord.L7_1_EAX), 0, 0, f.get(FeatureWord.L7_1_EDX)));
        }
        if (max7 >= 2) {
            out.add(entry(7, 2, FLAG_INDEXED, 0, 0, 0, f.get(FeatureWord.L7_2_EDX)));
        }
        CpuidEntry pmu = host.entry(0xa, 0);
        out.add(cpu.pmu() && pmu != null ? pmu : entry(0xa, 0, 0, 0, 0, 0, 0));
        out.addAll(topology(0xb, vcpuId, vcpuCount));
        out.addAll(xsave(cpu, host, f, xcr0));
        if (!cpu.portable()) {
            if (maxBasic >= 0x1f && host.entry(0x1f, 0) != null) {
                out.addAll(topology(0x1f, vcpuId, vcpuCount));
            }
            keepHostLeaves(out, host, maxBasic, maxExt);
        }
        out.add(entry(0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d)); // "KVMKVMKVM"
        out.add(entry(0x40000001, 0, 0, f.get(FeatureWord.KVM_EAX), 0, 0, 0));
        out.add(entry(0x80000000, 0, 0, maxExt, hostExt0.ebx(), hostExt0.ecx(), hostExt0.edx()));
        out.add(entry(0x80000001, 0, 0, amd ? signature : 0, 0, f.get(FeatureWord.X1_ECX), f.get(FeatureWord.X1_EDX)));
        out.addAll(brand(cpu.model()));
        out.add(entry(0x80000005, 0, 0, 0, 0, 0, 0));
        out.add(entry(0x80000006, 0, 0, 0, 0, (1024 << 16) | (0x8 << 12) | 64, 0)); // L2 1 MiB, 16-way, 64 B lines
        out.add(entry(0x80000007, 0, 0, 0, 0, 0, f.get(FeatureWord.X7_EDX)));
        int apicBits = apicIdBits(vcpuCount);
        int addressBits = cpu.portable() ? PORTABLE_PHYS_BITS | (PORTABLE_VIRT_BITS << 8)
                : orZero(host.entry(0x80000008, 0), 0x80000008, 0).eax() & 0xffff;
        out.add(entry(0x80000008, 0, 0, addressBits, f.get(FeatureWord.X8_EBX), (apicBits << 12) | (vcpuCount - 1), 0));
        if (!cpu.portable() && f.has(CpuFeature.TOPOEXT)) {
            out.addAll(caches(0x8000001d, vcpuCount));
            out.add(entry(0x8000001e, 0, 0, vcpuId, vcpuId, 0, 0)); // extended APIC ID, core ID; one node
        }
        out.sort(Comparator.comparingLong((CpuidEntry e) -> Integer.toUnsignedLong(e.function())).thenComparingInt(CpuidEntry::index));
        return out;
    }

    /** Host leaves the host model keeps as KVM reports them: those this builder does not compute. */
    private static void keepHostLeaves(List<CpuidEntry> out, HostCpu host, int maxBasic, int maxExt) {
        for (CpuidEntry e : host.supportedCpuid()) {
            long fn = Integer.toUnsignedLong(e.function());
            boolean basic = fn > 0xd && fn <= maxBasic && fn != 0x1f;
            boolean ext = fn > 0x80000008L && fn <= Integer.toUnsignedLong(maxExt) && fn != 0x8000001dL && fn != 0x8000001eL;
            if (basic || ext) {
                out.add(e);
            }
        }
    }

    /** Leaf 4 (or AMD's 0x8000001D): L1d, L1i, L2 per core, L3 shared by all vCPUs, then the end marker. */
    private static List<CpuidEntry> caches(int leaf, int vcpus) {
        int cores = Math.min(vcpus, 64) - 1;
        List<CpuidEntry> l = new ArrayList<>();
        l.add(cache(leaf, 0, 1, 1, 0, cores, 8, 64));          // L1d: 32 KiB, 8-way
        l.add(cache(leaf, 1, 2, 1, 0, cores, 8, 64));          // L1i: 32 KiB, 8-way
        l.add(cache(leaf, 2, 3, 2, 0, cores, 16, 1024));       // L2: 1 MiB, 16-way
        l.add(cache(leaf, 3, 3, 3, Math.min(vcpus, 4096) - 1, cores, 16, 16384)); // L3: 16 MiB, 16-way
        l.add(entry(leaf, 4, FLAG_INDEXED, 0, 0, 0, 0));
        return l;
    }

    private static CpuidEntry cache(int leaf, int index, int type, int level, int sharing, int cores, int ways, int sets) {
        int eax = type | (level << 5) | (1 << 8) | (sharing << 14) | (leaf == 4 ? cores << 26 : 0);
        int ebx = 63 | ((ways - 1) << 22);
        return entry(leaf, index, FLAG_INDEXED, eax, ebx, sets - 1, level == 3 ? 0b10 : 0); // L3 inclusive
    }

    /** Leaf 0xB or 0x1F: an SMT level of one thread, a core level of every vCPU, then the end marker. */
    private static List<CpuidEntry> topology(int leaf, int vcpuId, int vcpus) {
        return List.of(entry(leaf, 0, FLAG_INDEXED, 0, 1, (1 << 8), vcpuId),
                entry(leaf, 1, FLAG_INDEXED, apicIdBits(vcpus), vcpus, (2 << 8) | 1, vcpuId),
                entry(leaf, 2, FLAG_INDEXED, 0, 0, 2, vcpuId));
    }

    private static int apicIdBits(int vcpus) {
        return 32 - Integer.numberOfLeadingZeros(Math.max(vcpus, 1) - 1);
    }

    /** Leaf 0xD: sub-leaf 0 (components, sizes), 1 (XSAVE instructions, supervisor components), then one per component. */
    private static List<CpuidEntry> xsave(GuestCpu cpu, HostCpu host, FeatureSet f, long xcr0) {
        List<CpuidEntry> l = new ArrayList<>();
        if (xcr0 == 0) {
            l.add(entry(0xd, 0, FLAG_INDEXED, 0, 0, 0, 0));
            l.add(entry(0xd, 1, FLAG_INDEXED, 0, 0, 0, 0));
            return l;
        }
        int size = 512 + 64;
        List<CpuidEntry> components = new ArrayList<>();
        for (Component c : COMPONENTS) {
            if ((xcr0 & (1L << c.bit)) == 0) {
                continue;
            }
            // Offsets are the host CPU's own (AMD packs AVX-512 state where Intel keeps MPX): the guest's XSAVE
            // instructions run on this hardware, so its CPUID must say where they put each component.
            CpuidEntry h = host.entry(0xd, c.bit);
            int csize = h != null && h.eax() != 0 ? h.eax() : c.size;
            int offset = h != null && h.eax() != 0 ? h.ebx() : c.offset;
            int align = h != null ? h.ecx() & 0b10 : 0;
            components.add(entry(0xd, c.bit, FLAG_INDEXED, csize, offset, align, 0));
            size = Math.max(size, offset + csize);
        }
        // EBX (size for the XCR0 in force) is recomputed by KVM whenever the guest writes XCR0.
        l.add(entry(0xd, 0, FLAG_INDEXED, (int) xcr0, size, size, (int) (xcr0 >>> 32)));
        l.add(entry(0xd, 1, FLAG_INDEXED, f.get(FeatureWord.LD_1_EAX), 0, 0, 0));
        l.addAll(components);
        return l;
    }

    /** Leaves 0x80000002-4: "stasis MODEL", NUL-padded to 48 bytes. */
    private static List<CpuidEntry> brand(String model) {
        byte[] text = ("stasis " + model).getBytes(StandardCharsets.US_ASCII);
        byte[] b = new byte[48];
        System.arraycopy(text, 0, b, 0, Math.min(text.length, 47));
        List<CpuidEntry> l = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            int[] r = new int[4];
            for (int j = 0; j < 4; j++) {
                int o = 16 * i + 4 * j;
                r[j] = (b[o] & 0xff) | (b[o + 1] & 0xff) << 8 | (b[o + 2] & 0xff) << 16 | (b[o + 3] & 0xff) << 24;
            }
            l.add(entry(0x80000002 + i, 0, 0, r[0], r[1], r[2], r[3]));
        }
        return l;
    }

    private static CpuidEntry orZero(CpuidEntry e, int leaf, int subleaf) {
        return e != null ? e : entry(leaf, subleaf, 0, 0, 0, 0, 0);
    }

    private static CpuidEntry entry(int leaf, int index, int flags, int eax, int ebx, int ecx, int edx) {
        return new CpuidEntry(leaf, index, flags, eax, ebx, ecx, edx);
    }
}
