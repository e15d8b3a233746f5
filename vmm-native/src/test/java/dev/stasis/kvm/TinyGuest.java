package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.x86.DescriptorTable;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Segment;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.os.Mapping;
import java.util.ArrayList;
import java.util.List;

/**
 * A VM with one vCPU and a few MiB of RAM, entered directly in 64-bit long mode (no platform, no loader),
 * for the binding tests. Low memory: GDT at 0x500, identity page tables (2 MiB pages, first GiB) at
 * 0x1000-0x4000, stack below 0x8000, code at {@link #CODE}. Optional extra slots sit above {@link #RAM_SIZE}.
 */
final class TinyGuest implements AutoCloseable {
    static final long RAM_SIZE = 2 << 20;
    static final long CODE = 0x10000;
    static final long STACK_TOP = 0x8000;
    private static final long GDT = 0x500, PML4 = 0x1000, PDPT = 0x2000, PD = 0x3000;
    private static final long CODE64 = 0x00af9b000000ffffL, DATA = 0x00cf93000000ffffL;

    final Kvm kvm;
    final VmFd vm;
    final Mapping ram;
    final VcpuFd vcpu;
    private final List<Mapping> extra = new ArrayList<>();

    private TinyGuest(Kvm kvm, VmFd vm, Mapping ram, VcpuFd vcpu) {
        this.kvm = kvm;
        this.vm = vm;
        this.ram = ram;
        this.vcpu = vcpu;
    }

    /** A VM (with the in-kernel irqchip and PIT when asked: they must precede the vCPU) and vCPU 0, not yet in long mode. */
    static TinyGuest create(boolean irqchip) {
        Kvm kvm = Kvm.open();
        VmFd vm = kvm.createVm();
        vm.setTssAddr(0xfffbd000L);
        vm.setIdentityMapAddr(0xfffbc000L);
        if (irqchip) {
            vm.createIrqchip();
            vm.createPit2();
        }
        Mapping ram = Mapping.anonymous(RAM_SIZE);
        vm.setUserMemoryRegion(0, 0, 0, RAM_SIZE, ram.address());
        VcpuFd vcpu = vm.createVcpu(0);
        vcpu.setCpuid2(kvm.supportedCpuid());
        return new TinyGuest(kvm, vm, ram, vcpu);
    }

    /** Adds slot {@code slot} of {@code size} bytes at {@code gpa}; returns its host mapping. */
    Mapping addSlot(int slot, long gpa, long size, int flags) {
        Mapping m = Mapping.anonymous(size);
        extra.add(m);
        vm.setUserMemoryRegion(slot, flags, gpa, size, m.address());
        return m;
    }

    /** Places {@code code} at {@link #CODE} and sets the vCPU up to run it in 64-bit mode. */
    TinyGuest load(byte[] code) {
        var mem = ram.address();
        mem.setLong(GDT, 0);
        mem.setLong(GDT + 8, CODE64);
        mem.setLong(GDT + 16, DATA);
        mem.setMemory(PML4, PD + 0x1000 - PML4, (byte) 0);
        mem.setLong(PML4, PDPT | 3);
        mem.setLong(PDPT, PD | 3);
        for (int i = 0; i < 512; i++) {
            mem.setLong(PD + 8L * i, ((long) i << 21) | 0x83);
        }
        mem.write(CODE, code, 0, code.length);
        Segment cs = Segment.fromDescriptor(8, CODE64);
        Segment ds = Segment.fromDescriptor(16, DATA);
        vcpu.setSregs(vcpu.getSregs().withBoot(cs, ds, new DescriptorTable(GDT, 23),
                Sregs.CR0_PE | Sregs.CR0_MP | Sregs.CR0_ET | Sregs.CR0_NE | Sregs.CR0_WP | Sregs.CR0_PG, PML4,
                Sregs.CR4_PAE | Sregs.CR4_OSFXSR | Sregs.CR4_OSXMMEXCPT, Sregs.EFER_LME | Sregs.EFER_LMA));
        vcpu.setRegs(Regs.initial().withEntry(CODE, STACK_TOP, 0, 0, 0));
        return this;
    }

    /** Runs until the next port-I/O exit and returns its port; any other exit fails the test. */
    int runToIo() {
        for (int i = 0; i < 1000; i++) {
            if (!vcpu.run()) {
                continue;
            }
            KvmRun page = vcpu.runPage();
            if (page.exitReason() == KvmRun.EXIT_IO) {
                return page.ioPort();
            }
            fail("expected a port-I/O exit, got " + KvmRun.exitName(page.exitReason()) + "\n" + vcpu.getRegs());
        }
        throw new AssertionError("no port-I/O exit after 1000 KVM_RUN calls");
    }

    static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Override
    public void close() {
        vcpu.close();
        vm.close();
        ram.close();
        extra.forEach(Mapping::close);
        kvm.close();
    }
}
