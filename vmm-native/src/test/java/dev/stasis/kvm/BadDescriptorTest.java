package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.jna.Native;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.kvm.x86.ClockData;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.DebugRegs;
import dev.stasis.kvm.x86.FpuState;
import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.kvm.x86.KvmLayout;
import dev.stasis.kvm.x86.LapicState;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.kvm.x86.PitState;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.x86.Xcr;
import dev.stasis.kvm.x86.XsaveState;
import dev.stasis.os.Errno;
import dev.stasis.os.Mapping;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * rust-vmm's bad-descriptor test: every wrapper, called on a descriptor that is closed or not a KVM one,
 * throws {@link KvmException} naming its ioctl with EBADF. Two ways in: objects closed by {@code close()}
 * (the wrappers refuse before any syscall), and live objects whose descriptor number was replaced by an
 * {@code O_PATH} descriptor (the kernel answers EBADF to any ioctl on it), so the kernel's errno is
 * carried through too. Together the calls cover every {@link KvmIoctl}.
 */
@RequiresKvm
class BadDescriptorTest {
    /** A few libc calls the bindings do not need: dup2 and open with O_PATH. */
    static final class TestLibC {
        static {
            Native.register(com.sun.jna.NativeLibrary.getInstance("c"));
        }

        static final int O_PATH = 0x200000;

        static native int open(String path, int flags);

        static native int dup2(int oldfd, int newfd);

        static native int close(int fd);
    }

    interface Call {
        void run();
    }

    /** A valid eventfd for the irqfd and ioeventfd calls (the VM's descriptor is the bad one). */
    private static final dev.stasis.os.EventFd EVENT = new dev.stasis.os.EventFd();

    /** Valid arguments for every setter, read from a healthy vCPU and VM. */
    private record States(Regs regs, Sregs sregs, FpuState fpu, XsaveState xsave, List<Xcr> xcrs, LapicState lapic,
                          VcpuEvents events, DebugRegs debugRegs, List<CpuidEntry> cpuid, ClockData clock,
                          IrqchipState irqchip, PitState pit) {
        static States read(TinyGuest g) {
            VcpuFd v = g.vcpu;
            return new States(v.getRegs(), v.getSregs(), v.getFpu(), v.getXsave(KvmLayout.XSAVE_SIZE), v.getXcrs(),
                    v.getLapic(), v.getVcpuEvents(), v.getDebugRegs(), v.getCpuid2(), g.vm.getClock(),
                    g.vm.getIrqchip(IrqchipState.PIC_MASTER), g.vm.getPit2());
        }
    }

    private static Map<String, Map.Entry<KvmIoctl, Call>> calls(Kvm kvm, VmFd vm, VcpuFd vcpu, States s, Mapping ram) {
        Map<String, Map.Entry<KvmIoctl, Call>> m = new LinkedHashMap<>();
        add(m, "Kvm.apiVersion", KvmIoctl.KVM_GET_API_VERSION, kvm::apiVersion);
        add(m, "Kvm.checkExtension", KvmIoctl.KVM_CHECK_EXTENSION, () -> kvm.checkExtension(Capability.IRQCHIP));
        add(m, "Kvm.vcpuMmapSize", KvmIoctl.KVM_GET_VCPU_MMAP_SIZE, kvm::vcpuMmapSize);
        add(m, "Kvm.supportedCpuid", KvmIoctl.KVM_GET_SUPPORTED_CPUID, kvm::supportedCpuid);
        add(m, "Kvm.msrIndexList", KvmIoctl.KVM_GET_MSR_INDEX_LIST, kvm::msrIndexList);
        add(m, "Kvm.msrFeatureIndexList", KvmIoctl.KVM_GET_MSR_FEATURE_INDEX_LIST, kvm::msrFeatureIndexList);
        add(m, "Kvm.createVm", KvmIoctl.KVM_CREATE_VM, kvm::createVm);

        add(m, "VmFd.setUserMemoryRegion", KvmIoctl.KVM_SET_USER_MEMORY_REGION,
                () -> vm.setUserMemoryRegion(5, 0, 0x40000000L, ram.size(), ram.address()));
        add(m, "VmFd.setTssAddr", KvmIoctl.KVM_SET_TSS_ADDR, () -> vm.setTssAddr(0xfffbd000L));
        add(m, "VmFd.setIdentityMapAddr", KvmIoctl.KVM_SET_IDENTITY_MAP_ADDR, () -> vm.setIdentityMapAddr(0xfffbc000L));
        add(m, "VmFd.createIrqchip", KvmIoctl.KVM_CREATE_IRQCHIP, vm::createIrqchip);
        add(m, "VmFd.createPit2", KvmIoctl.KVM_CREATE_PIT2, vm::createPit2);
        add(m, "VmFd.getClock", KvmIoctl.KVM_GET_CLOCK, vm::getClock);
        add(m, "VmFd.setClock", KvmIoctl.KVM_SET_CLOCK, () -> vm.setClock(s.clock()));
        add(m, "VmFd.getIrqchip", KvmIoctl.KVM_GET_IRQCHIP, () -> vm.getIrqchip(IrqchipState.IOAPIC));
        add(m, "VmFd.setIrqchip", KvmIoctl.KVM_SET_IRQCHIP, () -> vm.setIrqchip(s.irqchip()));
        add(m, "VmFd.getPit2", KvmIoctl.KVM_GET_PIT2, vm::getPit2);
        add(m, "VmFd.setPit2", KvmIoctl.KVM_SET_PIT2, () -> vm.setPit2(s.pit()));
        add(m, "VmFd.getDirtyLog", KvmIoctl.KVM_GET_DIRTY_LOG, () -> vm.getDirtyLog(0, 512));
        add(m, "VmFd.clearDirtyLog", KvmIoctl.KVM_CLEAR_DIRTY_LOG, () -> vm.clearDirtyLog(0, 0, 64, new long[1]));
        add(m, "VmFd.enableCap", KvmIoctl.KVM_ENABLE_CAP, () -> vm.enableCap(Capability.MANUAL_DIRTY_LOG_PROTECT2, 1));
        add(m, "VmFd.irqLine", KvmIoctl.KVM_IRQ_LINE, () -> vm.irqLine(4, true));
        add(m, "VmFd.signalMsi", KvmIoctl.KVM_SIGNAL_MSI, () -> vm.signalMsi(0xfee00000L, 0x30));
        add(m, "VmFd.irqfd", KvmIoctl.KVM_IRQFD, () -> vm.irqfd(EVENT.fd(), 5, true));
        add(m, "VmFd.ioeventfd", KvmIoctl.KVM_IOEVENTFD, () -> vm.ioeventfd(0xfeb00050L, 4, EVENT.fd(), true));
        add(m, "VmFd.createVcpu", KvmIoctl.KVM_CREATE_VCPU, () -> vm.createVcpu(7));

        add(m, "VcpuFd.run", KvmIoctl.KVM_RUN, vcpu::run);
        add(m, "VcpuFd.getRegs", KvmIoctl.KVM_GET_REGS, vcpu::getRegs);
        add(m, "VcpuFd.setRegs", KvmIoctl.KVM_SET_REGS, () -> vcpu.setRegs(s.regs()));
        add(m, "VcpuFd.getSregs", KvmIoctl.KVM_GET_SREGS, vcpu::getSregs);
        add(m, "VcpuFd.setSregs", KvmIoctl.KVM_SET_SREGS, () -> vcpu.setSregs(s.sregs()));
        add(m, "VcpuFd.getFpu", KvmIoctl.KVM_GET_FPU, vcpu::getFpu);
        add(m, "VcpuFd.setFpu", KvmIoctl.KVM_SET_FPU, () -> vcpu.setFpu(s.fpu()));
        add(m, "VcpuFd.getXsave(4096)", KvmIoctl.KVM_GET_XSAVE, () -> vcpu.getXsave(KvmLayout.XSAVE_SIZE));
        add(m, "VcpuFd.getXsave(8192)", KvmIoctl.KVM_GET_XSAVE2, () -> vcpu.getXsave(2 * KvmLayout.XSAVE_SIZE));
        add(m, "VcpuFd.setXsave", KvmIoctl.KVM_SET_XSAVE, () -> vcpu.setXsave(s.xsave()));
        add(m, "VcpuFd.getXcrs", KvmIoctl.KVM_GET_XCRS, vcpu::getXcrs);
        add(m, "VcpuFd.setXcrs", KvmIoctl.KVM_SET_XCRS, () -> vcpu.setXcrs(s.xcrs()));
        add(m, "VcpuFd.getMsrs", KvmIoctl.KVM_GET_MSRS, () -> vcpu.getMsrs(new int[] {MsrEntry.IA32_TSC}));
        add(m, "VcpuFd.setMsrs", KvmIoctl.KVM_SET_MSRS, () -> vcpu.setMsrs(List.of(new MsrEntry(0x174, 0))));
        add(m, "VcpuFd.getLapic", KvmIoctl.KVM_GET_LAPIC, vcpu::getLapic);
        add(m, "VcpuFd.setLapic", KvmIoctl.KVM_SET_LAPIC, () -> vcpu.setLapic(s.lapic()));
        add(m, "VcpuFd.getMpState", KvmIoctl.KVM_GET_MP_STATE, vcpu::getMpState);
        add(m, "VcpuFd.setMpState", KvmIoctl.KVM_SET_MP_STATE, () -> vcpu.setMpState(VcpuFd.MP_STATE_RUNNABLE));
        add(m, "VcpuFd.getVcpuEvents", KvmIoctl.KVM_GET_VCPU_EVENTS, vcpu::getVcpuEvents);
        add(m, "VcpuFd.setVcpuEvents", KvmIoctl.KVM_SET_VCPU_EVENTS, () -> vcpu.setVcpuEvents(s.events()));
        add(m, "VcpuFd.getDebugRegs", KvmIoctl.KVM_GET_DEBUGREGS, vcpu::getDebugRegs);
        add(m, "VcpuFd.setDebugRegs", KvmIoctl.KVM_SET_DEBUGREGS, () -> vcpu.setDebugRegs(s.debugRegs()));
        add(m, "VcpuFd.getCpuid2", KvmIoctl.KVM_GET_CPUID2, vcpu::getCpuid2);
        add(m, "VcpuFd.setCpuid2", KvmIoctl.KVM_SET_CPUID2, () -> vcpu.setCpuid2(s.cpuid()));
        add(m, "VcpuFd.getTscKhz", KvmIoctl.KVM_GET_TSC_KHZ, vcpu::getTscKhz);
        add(m, "VcpuFd.setTscKhz", KvmIoctl.KVM_SET_TSC_KHZ, () -> vcpu.setTscKhz(1_000_000));
        add(m, "VcpuFd.setSignalMask", KvmIoctl.KVM_SET_SIGNAL_MASK, () -> vcpu.setSignalMask(0));
        add(m, "VcpuFd.kvmclockCtrl", KvmIoctl.KVM_KVMCLOCK_CTRL, vcpu::kvmclockCtrl);
        return m;
    }

    private static void add(Map<String, Map.Entry<KvmIoctl, Call>> m, String name, KvmIoctl ioctl, Call call) {
        m.put(name, Map.entry(ioctl, call));
    }

    private static void assertAllEbadf(Map<String, Map.Entry<KvmIoctl, Call>> calls) {
        List<String> wrong = new ArrayList<>();
        for (Map.Entry<String, Map.Entry<KvmIoctl, Call>> c : calls.entrySet()) {
            KvmIoctl expected = c.getValue().getKey();
            try {
                c.getValue().getValue().run();
                wrong.add(c.getKey() + ": no exception");
            } catch (KvmException e) {
                if (e.ioctl() != expected || e.errno() != Errno.EBADF || !e.getMessage().startsWith(expected.name() + " failed: EBADF")) {
                    wrong.add(c.getKey() + ": " + e.ioctl() + " errno " + e.errno() + ": " + e.getMessage());
                }
            } catch (RuntimeException e) {
                wrong.add(c.getKey() + ": " + e);
            }
        }
        assertTrue(wrong.isEmpty(), "wrappers that did not report EBADF with their ioctl:\n  " + String.join("\n  ", wrong));
    }

    @Test
    void theCallsCoverEveryIoctl() {
        try (TinyGuest g = TinyGuest.create(true); Mapping ram = Mapping.anonymous(4096)) {
            Set<KvmIoctl> covered = EnumSet.noneOf(KvmIoctl.class);
            calls(g.kvm, g.vm, g.vcpu, States.read(g), ram).values().forEach(e -> covered.add(e.getKey()));
            assertEquals(EnumSet.allOf(KvmIoctl.class), covered);
        }
    }

    @Test
    void everyWrapperOnAClosedDescriptorThrowsEbadfNamingItsIoctl() {
        try (Mapping ram = Mapping.anonymous(4096)) {
            TinyGuest g = TinyGuest.create(true);
            States s = States.read(g);
            g.close();
            assertAllEbadf(calls(g.kvm, g.vm, g.vcpu, s, ram));
            g.close(); // closing twice is harmless
        }
    }

    @Test
    void everyWrapperOnANonKvmDescriptorCarriesTheKernelsEbadf() {
        try (TinyGuest g = TinyGuest.create(true); Mapping ram = Mapping.anonymous(4096)) {
            States s = States.read(g);
            int path = TestLibC.open("/", TestLibC.O_PATH);
            assertTrue(path >= 0, "open(/, O_PATH)");
            try {
                for (Fd fd : List.of(g.kvm, g.vm, g.vcpu)) {
                    assertEquals(fd.fd(), TestLibC.dup2(path, fd.fd()), "dup2 over " + fd.getClass().getSimpleName());
                }
            } finally {
                TestLibC.close(path);
            }
            // Every descriptor number now names an O_PATH file, on which any ioctl fails with EBADF.
            assertAllEbadf(calls(g.kvm, g.vm, g.vcpu, s, ram));
        }
    }
}
