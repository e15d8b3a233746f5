package dev.stasis.arch.x86.cpu;

import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.KvmRun;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.VmFd;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Segment;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.os.Mapping;
import java.util.ArrayList;
import java.util.List;

/**
 * Asks a throwaway vCPU what CPUID it sees when given KVM's supported table. On hardware KVM that is the
 * table itself; an emulating KVM may show host features beyond it, which a guest can then use, so they count
 * as presentable. The probe runs 16-bit real-mode code (no page tables or GDT needed) that executes CPUID
 * for every feature register and stores the results, then writes port 0x80.
 */
final class CpuidProbe {
    private CpuidProbe() {}

    private static final long RAM = 0x10000, CODE = 0x1000, TABLE = 0x2000;

    /** Opens its own {@link Kvm}: the probe may run long after the descriptor that measured the host is closed. */
    static FeatureSet guestVisible() {
        try (Kvm kvm = Kvm.open()) {
            return guestVisible(kvm);
        }
    }

    static FeatureSet guestVisible(Kvm kvm) {
        List<int[]> queries = new ArrayList<>();
        for (FeatureWord w : FeatureWord.ALL) {
            int[] q = {w.leaf(), w.subleaf()};
            if (queries.stream().noneMatch(p -> p[0] == q[0] && p[1] == q[1])) {
                queries.add(q);
            }
        }
        try (VmFd vm = kvm.createVm(); Mapping ram = Mapping.anonymous(RAM)) {
            vm.setTssAddr(0xfffbd000L);
            vm.setIdentityMapAddr(0xfffbc000L);
            vm.setUserMemoryRegion(0, 0, 0, RAM, ram.address());
            var mem = ram.address();
            for (int i = 0; i < queries.size(); i++) {
                mem.setInt(TABLE + 16L * i, queries.get(i)[0]);
                mem.setInt(TABLE + 16L * i + 4, queries.get(i)[1]);
            }
            byte[] code = code(queries.size());
            mem.write(CODE, code, 0, code.length);
            try (VcpuFd vcpu = vm.createVcpu(0)) {
                vcpu.setCpuid2(kvm.supportedCpuid());
                Sregs s = vcpu.getSregs();
                Segment cs = realMode(s.cs()), ds = realMode(s.ds());
                vcpu.setSregs(new Sregs(cs, ds, ds, ds, ds, ds, s.tr(), s.ldt(), s.gdt(), s.idt(), s.cr0() & ~Sregs.CR0_PE,
                        s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
                vcpu.setRegs(Regs.initial().withEntry(CODE, 0x8000, 0, 0, 0));
                runToPort80(vcpu);
            }
            List<CpuidEntry> seen = new ArrayList<>();
            for (int i = 0; i < queries.size(); i++) {
                long o = TABLE + 16L * i;
                seen.add(new CpuidEntry(queries.get(i)[0], queries.get(i)[1], 0, mem.getInt(o), mem.getInt(o + 4), mem.getInt(o + 8), mem.getInt(o + 12)));
            }
            return FeatureSet.fromCpuid(seen);
        }
    }

    private static Segment realMode(Segment s) {
        return new Segment(0, 0xffff, 0, s.type(), true, 0, false, true, false, false, false, false);
    }

    private static void runToPort80(VcpuFd vcpu) {
        for (int i = 0; i < 100; i++) {
            if (!vcpu.run()) {
                continue;
            }
            KvmRun page = vcpu.runPage();
            if (page.exitReason() == KvmRun.EXIT_IO && page.ioPort() == 0x80) {
                return;
            }
            throw new IllegalStateException("CPUID probe vCPU stopped with " + KvmRun.exitName(page.exitReason()));
        }
        throw new IllegalStateException("CPUID probe vCPU did not finish");
    }

    /**
     * <pre>
     *   xor si, si
     * l: mov eax, [si+T]; mov ecx, [si+T+4]; cpuid
     *   mov [si+T], eax; mov [si+T+4], ebx; mov [si+T+8], ecx; mov [si+T+12], edx
     *   add si, 16; cmp si, n*16; jb l
     *   out 0x80, al; hlt
     * </pre>
     */
    private static byte[] code(int n) {
        int t = (int) TABLE;
        int[] c = {
            0x31, 0xf6,
            0x66, 0x8b, 0x84, t & 0xff, t >> 8,
            0x66, 0x8b, 0x8c, (t + 4) & 0xff, (t + 4) >> 8,
            0x0f, 0xa2,
            0x66, 0x89, 0x84, t & 0xff, t >> 8,
            0x66, 0x89, 0x9c, (t + 4) & 0xff, (t + 4) >> 8,
            0x66, 0x89, 0x8c, (t + 8) & 0xff, (t + 8) >> 8,
            0x66, 0x89, 0x94, (t + 12) & 0xff, (t + 12) >> 8,
            0x83, 0xc6, 0x10,
            0x81, 0xfe, (n * 16) & 0xff, (n * 16) >> 8,
            0x72, 0,
            0xe6, 0x80,
            0xf4};
        int jb = 41; // offset of the jb opcode; the loop starts at offset 2
        c[jb + 1] = (2 - (jb + 2)) & 0xff;
        byte[] b = new byte[c.length];
        for (int i = 0; i < c.length; i++) {
            b[i] = (byte) c[i];
        }
        return b;
    }
}
