package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.DebugRegs;
import dev.stasis.kvm.x86.FpuState;
import dev.stasis.kvm.x86.KvmLayout;
import dev.stasis.kvm.x86.LapicState;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.x86.Xcr;
import dev.stasis.kvm.x86.XsaveState;
import dev.stasis.os.Errno;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every vCPU state ioctl pair on the real /dev/kvm: get, set what was read, get again gives the same value
 * (records compared field by field, arrays by content), and a changed value reads back changed.
 */
@RequiresKvm
class VcpuFdTest {
    private TinyGuest g;
    private VcpuFd vcpu;

    @BeforeEach
    void createVcpu() {
        g = TinyGuest.create(true); // LAPIC state needs the in-kernel irqchip
        vcpu = g.vcpu;
    }

    @AfterEach
    void close() {
        g.close();
    }

    /** get → set → get is the identity. */
    private static <T> T roundTrip(Supplier<T> get, Consumer<T> set) {
        T before = get.get();
        set.accept(before);
        T after = get.get();
        assertStateEquals(before, after);
        return after;
    }

    /** Records by component (arrays by content, since a record's equals compares arrays by identity). */
    static void assertStateEquals(Object expected, Object actual) {
        if (expected instanceof Record r && actual != null && actual.getClass() == r.getClass()) {
            List<String> diffs = new ArrayList<>();
            for (RecordComponent c : r.getClass().getRecordComponents()) {
                try {
                    Object a = c.getAccessor().invoke(expected);
                    Object b = c.getAccessor().invoke(actual);
                    if (!Objects.deepEquals(a, b)) {
                        diffs.add(c.getName() + ": " + show(a) + " -> " + show(b));
                    }
                } catch (ReflectiveOperationException e) {
                    throw new AssertionError(e);
                }
            }
            assertTrue(diffs.isEmpty(), r.getClass().getSimpleName() + " changed on a round trip: " + diffs);
        } else {
            assertEquals(expected, actual);
        }
    }

    private static String show(Object o) {
        if (o instanceof long[] a) {
            return Arrays.toString(a);
        }
        if (o instanceof byte[] b) {
            return "byte[" + b.length + "]";
        }
        return String.valueOf(o);
    }

    @Test
    void regs() {
        Regs r = roundTrip(vcpu::getRegs, vcpu::setRegs);
        vcpu.setRegs(new Regs(0x1234_5678_9abcL, r.rbx(), r.rcx(), r.rdx(), r.rsi(), r.rdi(), 0x7000, r.rbp(), r.r8(), r.r9(),
                r.r10(), r.r11(), r.r12(), r.r13(), r.r14(), 0xfeedL, 0x10000, 0x2));
        Regs back = vcpu.getRegs();
        assertEquals(0x1234_5678_9abcL, back.rax());
        assertEquals(0xfeedL, back.r15());
        assertEquals(0x7000, back.rsp());
        assertEquals(0x10000, back.rip());
    }

    @Test
    void sregs() {
        Sregs s = roundTrip(vcpu::getSregs, vcpu::setSregs);
        vcpu.setSregs(new Sregs(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(), s.gdt(), s.idt(), s.cr0(),
                0xdead_b000L, s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap()));
        assertEquals(0xdead_b000L, vcpu.getSregs().cr2());
        g.load(new byte[] {(byte) 0xf4}); // long mode through SREGS reads back too
        Sregs lm = roundTrip(vcpu::getSregs, vcpu::setSregs);
        assertTrue(lm.cs().l());
        assertEquals(Sregs.EFER_LME | Sregs.EFER_LMA, lm.efer() & (Sregs.EFER_LME | Sregs.EFER_LMA));
    }

    @Test
    void fpu() {
        FpuState f = roundTrip(vcpu::getFpu, vcpu::setFpu);
        byte[] raw = f.raw();
        int fcw = (raw[KvmLayout.FPU_FCW] & 0xff) | (raw[KvmLayout.FPU_FCW + 1] & 0xff) << 8;
        assertEquals(0x37f, fcw, "the reset FPU control word");
        raw[KvmLayout.FPU_FCW] = 0x7f;
        raw[KvmLayout.FPU_FCW + 1] = 0x02;
        raw[KvmLayout.FPU_XMM] = 0x5a; // xmm0, low byte
        vcpu.setFpu(new FpuState(raw));
        byte[] back = vcpu.getFpu().raw();
        assertEquals(0x7f, back[KvmLayout.FPU_FCW]);
        assertEquals(0x02, back[KvmLayout.FPU_FCW + 1]);
        assertEquals(0x5a, back[KvmLayout.FPU_XMM]);
    }

    @Test
    void xsaveAtTheSizeKvmAnnounces() {
        g.kvm.require(Capability.XSAVE);
        int size = Math.max(g.kvm.checkExtension(Capability.XSAVE2), KvmLayout.XSAVE_SIZE);
        XsaveState x = roundTrip(() -> vcpu.getXsave(size), vcpu::setXsave);
        assertEquals(size, x.region().length);
        // The legacy area is FXSAVE's (XMM0 at 160); XSTATE_BV (at 512) bit 1 says the SSE state is not in its init state.
        byte[] region = x.region();
        region[160] = 0x6b;
        region[512] |= 2;
        vcpu.setXsave(new XsaveState(region));
        assertEquals(0x6b, vcpu.getXsave(size).region()[160]);
        assertEquals(0x6b, vcpu.getFpu().raw()[KvmLayout.FPU_XMM], "KVM_GET_FPU sees what KVM_SET_XSAVE wrote");
    }

    @Test
    void xsave2IoctlWithALargerBuffer() {
        g.kvm.require(Capability.XSAVE);
        // Above 4 KiB the wrapper issues KVM_GET_XSAVE2, which fills the size KVM announces; the rest stays zero.
        XsaveState small = vcpu.getXsave(KvmLayout.XSAVE_SIZE);
        XsaveState large = vcpu.getXsave(2 * KvmLayout.XSAVE_SIZE);
        assertEquals(2 * KvmLayout.XSAVE_SIZE, large.region().length);
        int announced = Math.max(g.kvm.checkExtension(Capability.XSAVE2), KvmLayout.XSAVE_SIZE);
        assertArrayEquals(Arrays.copyOf(small.region(), Math.min(announced, KvmLayout.XSAVE_SIZE)),
                Arrays.copyOf(large.region(), Math.min(announced, KvmLayout.XSAVE_SIZE)));
    }

    @Test
    void xcrs() {
        g.kvm.require(Capability.XCRS);
        List<Xcr> x = roundTrip(vcpu::getXcrs, vcpu::setXcrs);
        assertEquals(0, x.get(0).xcr());
        assertEquals(1, x.get(0).value() & 1, "XCR0 always has x87");
        vcpu.setXcrs(List.of(new Xcr(0, 0x3)));
        assertEquals(List.of(new Xcr(0, 0x3)), vcpu.getXcrs());
        assertThrows(IllegalArgumentException.class, () -> vcpu.setXcrs(java.util.Collections.nCopies(KvmLayout.MAX_XCRS + 1, new Xcr(0, 1))));
    }

    @Test
    void msrsForTheWholeIndexList() {
        int[] index = g.kvm.msrIndexList();
        List<MsrEntry> msrs = vcpu.getMsrs(index);
        vcpu.setMsrs(msrs);
        List<MsrEntry> again = vcpu.getMsrs(index);
        assertEquals(index.length, msrs.size());
        for (int i = 0; i < index.length; i++) {
            assertEquals(index[i], msrs.get(i).index(), "entries come back in the order asked");
            if (index[i] == MsrEntry.IA32_TSC) {
                assertTrue(again.get(i).data() >= msrs.get(i).data(), "the TSC keeps counting");
            } else {
                assertEquals(msrs.get(i), again.get(i));
            }
        }
        // A changed value reads back (SYSENTER_CS and LSTAR: plain storage, no side effects).
        vcpu.setMsrs(List.of(new MsrEntry(0x174, 0x10), new MsrEntry(0xc0000082, 0xffff_ffff_8100_0000L)));
        assertEquals(List.of(new MsrEntry(0x174, 0x10), new MsrEntry(0xc0000082, 0xffff_ffff_8100_0000L)),
                vcpu.getMsrs(new int[] {0x174, 0xc0000082}));
    }

    @Test
    void anMsrKvmWillNotReadFailsTheWholeCallNamingIt() {
        // The wrapper is all-or-nothing: KVM stops at the first index it refuses and getMsrs throws, naming it.
        int bogus = 0x4b56_4dff; // in KVM's paravirtual range, not an MSR
        KvmException e = assertThrows(KvmException.class,
                () -> vcpu.getMsrs(new int[] {MsrEntry.IA32_TSC, bogus, MsrEntry.IA32_APIC_BASE}));
        assertEquals(KvmIoctl.KVM_GET_MSRS, e.ioctl());
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().contains("MSR 0x4b564dff not readable"), e.getMessage());
        KvmException s = assertThrows(KvmException.class, () -> vcpu.setMsrs(List.of(new MsrEntry(bogus, 1))));
        assertEquals(KvmIoctl.KVM_SET_MSRS, s.ioctl());
        assertTrue(s.getMessage().contains("KVM refused msr[0x4b564dff]"), s.getMessage());
    }

    @Test
    void msrsInChunksBeyondSixtyFour() {
        int[] index = g.kvm.msrIndexList();
        int[] many = new int[150];
        for (int i = 0; i < many.length; i++) {
            many[i] = index[i % index.length];
        }
        List<MsrEntry> msrs = vcpu.getMsrs(many);
        assertEquals(many.length, msrs.size());
        for (int i = 0; i < many.length; i++) {
            assertEquals(many[i], msrs.get(i).index());
        }
    }

    @Test
    void lapic() {
        LapicState l = roundTrip(vcpu::getLapic, vcpu::setLapic);
        vcpu.setLapic(l.with(LapicState.TPR, 0x20).with(LapicState.LVT_LINT0, 0x700));
        LapicState back = vcpu.getLapic();
        assertEquals(0x20, back.get(LapicState.TPR));
        assertEquals(0x700, back.get(LapicState.LVT_LINT0));
    }

    @Test
    void mpState() {
        int s = roundTrip(vcpu::getMpState, vcpu::setMpState);
        assertEquals(VcpuFd.MP_STATE_RUNNABLE, s, "vCPU 0 is the bootstrap processor");
        vcpu.setMpState(VcpuFd.MP_STATE_HALTED);
        assertEquals(VcpuFd.MP_STATE_HALTED, vcpu.getMpState());
        vcpu.setMpState(VcpuFd.MP_STATE_RUNNABLE);
        assertEquals(VcpuFd.MP_STATE_RUNNABLE, vcpu.getMpState());
    }

    @Test
    void vcpuEvents() {
        VcpuEvents e = roundTrip(vcpu::getVcpuEvents, vcpu::setVcpuEvents);
        assertFalse(e.nmiMasked());
        vcpu.setVcpuEvents(new VcpuEvents(e.exceptionInjected(), e.exceptionNr(), e.exceptionHasErrorCode(), e.exceptionPending(),
                e.exceptionErrorCode(), e.interruptInjected(), e.interruptNr(), e.interruptSoft(), e.interruptShadow(),
                e.nmiInjected(), e.nmiPending(), true, e.sipiVector(), e.flags(), e.smiSmm(), e.smiPending(),
                e.smiSmmInsideNmi(), e.smiLatchedInit(), e.tripleFaultPending(), e.exceptionHasPayload(), e.exceptionPayload()));
        assertTrue(vcpu.getVcpuEvents().nmiMasked());
    }

    @Test
    void debugRegs() {
        DebugRegs d = roundTrip(vcpu::getDebugRegs, vcpu::setDebugRegs);
        vcpu.setDebugRegs(new DebugRegs(new long[] {0x1000, 0x2000, 0, 0}, d.dr6(), d.dr7() | 0x1, 0));
        DebugRegs back = vcpu.getDebugRegs();
        assertArrayEquals(new long[] {0x1000, 0x2000, 0, 0}, back.db());
        assertEquals(d.dr7() | 0x1, back.dr7());
    }

    @Test
    void cpuid2() {
        List<CpuidEntry> c = roundTrip(vcpu::getCpuid2, vcpu::setCpuid2);
        assertFalse(c.isEmpty());
        List<CpuidEntry> changed = new ArrayList<>(c);
        int i = indexOfLeaf(changed, 0x80000002);
        assertTrue(i >= 0, "no brand-string leaf 0x80000002");
        changed.set(i, changed.get(i).withRegisters(0x73617473, 0x20736973, 0x20202020, 0x20202020)); // "stasis"
        vcpu.setCpuid2(changed);
        CpuidEntry back = vcpu.getCpuid2().get(indexOfLeaf(vcpu.getCpuid2(), 0x80000002));
        assertEquals(0x73617473, back.eax());
        assertEquals(0x20736973, back.ebx());
    }

    private static int indexOfLeaf(List<CpuidEntry> entries, int function) {
        for (int i = 0; i < entries.size(); i++) {
            if (entries.get(i).function() == function) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void tscKhz() {
        g.kvm.require(Capability.GET_TSC_KHZ);
        int khz = roundTrip(vcpu::getTscKhz, vcpu::setTscKhz);
        assertTrue(khz > 0);
        // Within KVM's 250 ppm tolerance a rate is accepted even without TSC scaling.
        int near = khz + khz / 10_000;
        vcpu.setTscKhz(near);
        assertEquals(near, vcpu.getTscKhz());
        if (g.kvm.has(Capability.TSC_CONTROL)) {
            vcpu.setTscKhz(khz / 2);
            assertEquals(khz / 2, vcpu.getTscKhz());
        }
    }

    @Test
    void kvmclockCtrlWithoutAGuestClockIsEinval() {
        // KVM_KVMCLOCK_CTRL needs the guest to have enabled kvmclock; a fresh vCPU has not.
        KvmException e = assertThrows(KvmException.class, vcpu::kvmclockCtrl);
        assertEquals(KvmIoctl.KVM_KVMCLOCK_CTRL, e.ioctl());
        assertEquals(Errno.EINVAL, e.errno());
    }

    @Test
    void stateTakenFromOneVcpuRestoresIntoAnother() {
        g.load(new byte[] {(byte) 0xe6, 0x10, (byte) 0xeb, (byte) 0xfc}); // 1: out %al,$0x10; jmp 1b
        assertEquals(0x10, g.runToIo());
        Regs regs = vcpu.getRegs();
        Sregs sregs = vcpu.getSregs();
        try (TinyGuest other = TinyGuest.create(true)) {
            other.ram.address().write(0, g.ram.address().getByteArray(0, 0x20000), 0, 0x20000);
            other.vcpu.setSregs(sregs);
            other.vcpu.setRegs(regs);
            assertStateEquals(regs, other.vcpu.getRegs());
            assertEquals(0x10, other.runToIo());
            assertEquals(TinyGuest.CODE + 2, other.vcpu.getRegs().rip(), "the copy resumed after the out and ran one loop");
        }
    }
}
