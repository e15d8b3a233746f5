package dev.stasis.arch.x86.cpu;

import static dev.stasis.arch.x86.cpu.FeatureWord.*;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The CPU features stasis knows by name: where each lives in CPUID and which features it needs (after
 * Linux's {@code cpuid-deps.c}), so models are written as feature lists and errors say
 * {@code avx512f (leaf 0x7.0 EBX bit 16)} instead of bit numbers. Names are Linux's {@code /proc/cpuinfo}
 * flags, except {@code sse3} (pni), {@code lzcnt} (abm), {@code tsc_deadline} and the KVM leaf's {@code kvm_*}.
 * A bit without a name here is still compared and reported, by its leaf and bit.
 */
public enum CpuFeature {
    // Leaf 1 EDX
    FPU(L1_EDX, 0), VME(L1_EDX, 1), DE(L1_EDX, 2), PSE(L1_EDX, 3), TSC(L1_EDX, 4), MSR(L1_EDX, 5), PAE(L1_EDX, 6),
    MCE(L1_EDX, 7), CX8(L1_EDX, 8), APIC(L1_EDX, 9), SEP(L1_EDX, 11), MTRR(L1_EDX, 12), PGE(L1_EDX, 13), MCA(L1_EDX, 14),
    CMOV(L1_EDX, 15), PAT(L1_EDX, 16), PSE36(L1_EDX, 17), CLFLUSH(L1_EDX, 19), DS(L1_EDX, 21), ACPI(L1_EDX, 22),
    MMX(L1_EDX, 23), FXSR(L1_EDX, 24), SSE(L1_EDX, 25, "fxsr"), SSE2(L1_EDX, 26, "sse"), SS(L1_EDX, 27), HT(L1_EDX, 28),
    // Leaf 1 ECX
    SSE3(L1_ECX, 0, "sse2"), PCLMULQDQ(L1_ECX, 1, "sse2"), MONITOR(L1_ECX, 3), VMX(L1_ECX, 5), SSSE3(L1_ECX, 9, "sse3"),
    FMA(L1_ECX, 12, "avx"), CX16(L1_ECX, 13, "cx8"), PDCM(L1_ECX, 15), PCID(L1_ECX, 17), SSE4_1(L1_ECX, 19, "ssse3"),
    SSE4_2(L1_ECX, 20, "sse4_1"), X2APIC(L1_ECX, 21, "apic"), MOVBE(L1_ECX, 22), POPCNT(L1_ECX, 23),
    TSC_DEADLINE(L1_ECX, 24, "apic"), AES(L1_ECX, 25, "sse2"), XSAVE(L1_ECX, 26, "fxsr"), AVX(L1_ECX, 28, "xsave", "sse4_2"),
    F16C(L1_ECX, 29, "avx"), RDRAND(L1_ECX, 30),
    // Leaf 6 EAX
    ARAT(L6_EAX, 2),
    // Leaf 7.0 EBX
    FSGSBASE(L7_0_EBX, 0), TSC_ADJUST(L7_0_EBX, 1), SGX(L7_0_EBX, 2), BMI1(L7_0_EBX, 3), HLE(L7_0_EBX, 4),
    AVX2(L7_0_EBX, 5, "avx"), FDP_EXCPTN_ONLY(L7_0_EBX, 6), SMEP(L7_0_EBX, 7), BMI2(L7_0_EBX, 8), ERMS(L7_0_EBX, 9),
    INVPCID(L7_0_EBX, 10), RTM(L7_0_EBX, 11), CQM(L7_0_EBX, 12), ZERO_FCS_FDS(L7_0_EBX, 13), MPX(L7_0_EBX, 14, "xsave"),
    RDT_A(L7_0_EBX, 15), AVX512F(L7_0_EBX, 16, "avx2"), AVX512DQ(L7_0_EBX, 17, "avx512f"), RDSEED(L7_0_EBX, 18),
    ADX(L7_0_EBX, 19), SMAP(L7_0_EBX, 20), AVX512IFMA(L7_0_EBX, 21, "avx512f"), CLFLUSHOPT(L7_0_EBX, 23),
    CLWB(L7_0_EBX, 24), INTEL_PT(L7_0_EBX, 25), AVX512PF(L7_0_EBX, 26, "avx512f"), AVX512ER(L7_0_EBX, 27, "avx512f"),
    AVX512CD(L7_0_EBX, 28, "avx512f"), SHA_NI(L7_0_EBX, 29, "sse2"), AVX512BW(L7_0_EBX, 30, "avx512f"),
    AVX512VL(L7_0_EBX, 31, "avx512f"),
    // Leaf 7.0 ECX
    PREFETCHWT1(L7_0_ECX, 0), AVX512VBMI(L7_0_ECX, 1, "avx512bw"), UMIP(L7_0_ECX, 2), PKU(L7_0_ECX, 3, "xsave"),
    WAITPKG(L7_0_ECX, 5), AVX512_VBMI2(L7_0_ECX, 6, "avx512bw"), SHSTK(L7_0_ECX, 7, "xsaves"), GFNI(L7_0_ECX, 8, "sse2"),
    VAES(L7_0_ECX, 9, "avx", "aes"), VPCLMULQDQ(L7_0_ECX, 10, "avx", "pclmulqdq"), AVX512_VNNI(L7_0_ECX, 11, "avx512f"),
    AVX512_BITALG(L7_0_ECX, 12, "avx512bw"), TME(L7_0_ECX, 13), AVX512_VPOPCNTDQ(L7_0_ECX, 14, "avx512f"),
    LA57(L7_0_ECX, 16), RDPID(L7_0_ECX, 22), BUS_LOCK_DETECT(L7_0_ECX, 24), CLDEMOTE(L7_0_ECX, 25),
    MOVDIRI(L7_0_ECX, 27), MOVDIR64B(L7_0_ECX, 28), ENQCMD(L7_0_ECX, 29), SGX_LC(L7_0_ECX, 30, "sgx"), PKS(L7_0_ECX, 31),
    // Leaf 7.0 EDX
    AVX512_4VNNIW(L7_0_EDX, 2, "avx512f"), AVX512_4FMAPS(L7_0_EDX, 3, "avx512f"), FSRM(L7_0_EDX, 4), UINTR(L7_0_EDX, 5),
    AVX512_VP2INTERSECT(L7_0_EDX, 8, "avx512f"), SRBDS_CTRL(L7_0_EDX, 9), MD_CLEAR(L7_0_EDX, 10),
    RTM_ALWAYS_ABORT(L7_0_EDX, 11), TSX_FORCE_ABORT(L7_0_EDX, 13), SERIALIZE(L7_0_EDX, 14), HYBRID_CPU(L7_0_EDX, 15),
    TSXLDTRK(L7_0_EDX, 16), PCONFIG(L7_0_EDX, 18), ARCH_LBR(L7_0_EDX, 19), IBT(L7_0_EDX, 20, "xsaves"),
    AMX_BF16(L7_0_EDX, 22, "amx_tile"), AVX512_FP16(L7_0_EDX, 23, "avx512bw"), AMX_TILE(L7_0_EDX, 24, "xsave"),
    AMX_INT8(L7_0_EDX, 25, "amx_tile"), SPEC_CTRL(L7_0_EDX, 26), INTEL_STIBP(L7_0_EDX, 27), FLUSH_L1D(L7_0_EDX, 28),
    ARCH_CAPABILITIES(L7_0_EDX, 29), CORE_CAPABILITIES(L7_0_EDX, 30), SPEC_CTRL_SSBD(L7_0_EDX, 31),
    // Leaf 7.1 EAX, EDX; 7.2 EDX
    AVX_VNNI(L7_1_EAX, 4, "avx2"), AVX512_BF16(L7_1_EAX, 5, "avx512_vnni"), CMPCCXADD(L7_1_EAX, 7), FZRM(L7_1_EAX, 10),
    FSRS(L7_1_EAX, 11), FSRC(L7_1_EAX, 12), AMX_FP16(L7_1_EAX, 21, "amx_tile"), AVX_IFMA(L7_1_EAX, 23, "avx2"),
    LAM(L7_1_EAX, 26), AVX_VNNI_INT8(L7_1_EDX, 4, "avx2"), AVX_NE_CONVERT(L7_1_EDX, 5, "avx2"),
    PREFETCHITI(L7_1_EDX, 14), INTEL_PSFD(L7_2_EDX, 0), IPRED_CTRL(L7_2_EDX, 1), RRSBA_CTRL(L7_2_EDX, 2),
    BHI_CTRL(L7_2_EDX, 4), MCDT_NO(L7_2_EDX, 5),
    // Leaf 0xD.1 EAX
    XSAVEOPT(LD_1_EAX, 0, "xsave"), XSAVEC(LD_1_EAX, 1, "xsave"), XGETBV1(LD_1_EAX, 2, "xsave"), XSAVES(LD_1_EAX, 3, "xsave"),
    XFD(LD_1_EAX, 4, "xsave"),
    // KVM paravirtual leaf 0x40000001 EAX
    KVM_CLOCKSOURCE(KVM_EAX, 0), KVM_NOP_IO_DELAY(KVM_EAX, 1), KVM_CLOCKSOURCE2(KVM_EAX, 3), KVM_ASYNC_PF(KVM_EAX, 4),
    KVM_STEAL_TIME(KVM_EAX, 5), KVM_PV_EOI(KVM_EAX, 6), KVM_PV_UNHALT(KVM_EAX, 7), KVM_PV_TLB_FLUSH(KVM_EAX, 9),
    KVM_ASYNC_PF_VMEXIT(KVM_EAX, 10, "kvm_async_pf"), KVM_PV_SEND_IPI(KVM_EAX, 11), KVM_POLL_CONTROL(KVM_EAX, 12),
    KVM_PV_SCHED_YIELD(KVM_EAX, 13), KVM_ASYNC_PF_INT(KVM_EAX, 14, "kvm_async_pf"), KVM_MSI_EXT_DEST_ID(KVM_EAX, 15),
    KVM_HC_MAP_GPA_RANGE(KVM_EAX, 16), KVM_MIGRATION_CONTROL(KVM_EAX, 17), KVM_CLOCKSOURCE_STABLE(KVM_EAX, 24),
    // Leaf 0x80000001 ECX, EDX
    LAHF_LM(X1_ECX, 0), CMP_LEGACY(X1_ECX, 1), SVM(X1_ECX, 2), EXTAPIC(X1_ECX, 3), CR8_LEGACY(X1_ECX, 4),
    LZCNT(X1_ECX, 5), SSE4A(X1_ECX, 6), MISALIGNSSE(X1_ECX, 7), PREFETCHW(X1_ECX, 8), OSVW(X1_ECX, 9), IBS(X1_ECX, 10),
    XOP(X1_ECX, 11, "avx"), SKINIT(X1_ECX, 12), WDT(X1_ECX, 13), LWP(X1_ECX, 15), FMA4(X1_ECX, 16, "avx"),
    TCE(X1_ECX, 17), NODEID_MSR(X1_ECX, 19), TBM(X1_ECX, 21), TOPOEXT(X1_ECX, 22), PERFCTR_CORE(X1_ECX, 23),
    PERFCTR_NB(X1_ECX, 24), BPEXT(X1_ECX, 26), PERFCTR_LLC(X1_ECX, 28), MWAITX(X1_ECX, 29),
    SYSCALL(X1_EDX, 11), NX(X1_EDX, 20), MMXEXT(X1_EDX, 22), FXSR_OPT(X1_EDX, 25, "fxsr"), PDPE1GB(X1_EDX, 26),
    RDTSCP(X1_EDX, 27), LM(X1_EDX, 29), _3DNOWEXT(X1_EDX, 30), _3DNOW(X1_EDX, 31),
    // Leaf 0x80000007 EDX, 0x80000008 EBX
    INVTSC(X7_EDX, 8),
    CLZERO(X8_EBX, 0), IRPERF(X8_EBX, 1), XSAVEERPTR(X8_EBX, 2), RDPRU(X8_EBX, 4), WBNOINVD(X8_EBX, 9), AMD_IBPB(X8_EBX, 12),
    AMD_IBRS(X8_EBX, 14), AMD_STIBP(X8_EBX, 15), AMD_STIBP_ALWAYS_ON(X8_EBX, 17), AMD_SSBD(X8_EBX, 24),
    VIRT_SSBD(X8_EBX, 25), AMD_SSB_NO(X8_EBX, 26), AMD_PSFD(X8_EBX, 28), BTC_NO(X8_EBX, 29);

    public final FeatureWord word;
    public final int bit;
    private final String[] requires;

    CpuFeature(FeatureWord word, int bit, String... requires) {
        this.word = word;
        this.bit = bit;
        this.requires = requires;
    }

    /** The name users write and errors print: {@code avx512f}, {@code 3dnow}. */
    public String key() {
        String n = name().toLowerCase(Locale.ROOT);
        return n.startsWith("_") ? n.substring(1) : n;
    }

    /** {@code avx512f (leaf 0x7.0 EBX bit 16)}. */
    public String describe() {
        return key() + " (" + word.label() + " bit " + bit + ")";
    }

    public int mask() {
        return 1 << bit;
    }

    /** The features this one cannot work without. */
    public Set<CpuFeature> requires() {
        Set<CpuFeature> out = EnumSet.noneOf(CpuFeature.class);
        for (String r : requires) {
            out.add(parse(r));
        }
        return out;
    }

    /** Parses {@code cx16}, {@code tsc-deadline} or {@code TSC_DEADLINE}; the error lists the known names. */
    public static CpuFeature parse(String name) {
        String n = name.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        if (!n.isEmpty() && Character.isDigit(n.charAt(0))) {
            n = "_" + n;
        }
        try {
            return valueOf(n);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown CPU feature '" + name + "'; known: "
                    + Arrays.stream(values()).map(CpuFeature::key).collect(Collectors.joining(", ")));
        }
    }

    /** The named feature at {@code bit} of {@code word}, or null. */
    public static CpuFeature at(FeatureWord word, int bit) {
        for (CpuFeature f : values()) {
            if (f.word.equals(word) && f.bit == bit) {
                return f;
            }
        }
        return null;
    }

    /** {@code avx512f (leaf 0x7.0 EBX bit 16)}, or {@code leaf 0x7.0 EBX bit 22} for a bit without a name. */
    public static String describe(FeatureWord word, int bit) {
        CpuFeature f = at(word, bit);
        return f != null ? f.describe() : word.label() + " bit " + bit;
    }
}
