package dev.stasis.arch.x86;

import dev.stasis.devices.kvm.LapicSection;
import dev.stasis.kvm.KvmException;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.x86.LapicState;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.os.Errno;
import dev.stasis.vcpu.Vcpu;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads and writes a vCPU's whole state in the order KVM needs.
 *
 * <p>Ordering requirements (ARCHITECTURE.md; QEMU and Firecracker learned them the hard way):
 * <ul>
 *   <li>Save: KVM_GET_MP_STATE first (it can change LAPIC state), KVM_GET_VCPU_EVENTS last.</li>
 *   <li>Restore: CPUID2, MP_STATE, REGS, SREGS, XSAVE, XCRS, DEBUGREGS, LAPIC, MSRS, VCPU_EVENTS, then
 *       KVMCLOCK_CTRL. IA32_TSC_DEADLINE is ignored unless LVTT is already in TSC-deadline mode, so it goes
 *       after KVM_SET_LAPIC, and after IA32_TSC (it is an absolute guest TSC value).</li>
 * </ul>
 * Every step that fails says which one (the {@link KvmException} names the ioctl).
 */
public final class VcpuStateIo {
    private VcpuStateIo() {}

    /** One vCPU's state: its registers and its vLAPIC. */
    public record Saved(VcpuState vcpu, LapicState lapic) {}

    /** What the restoring host's KVM offers: XCRs, its XSAVE buffer size (0: 4 KiB), TSC scaling. */
    public record Host(boolean hasXcrs, int xsaveSize, boolean canScaleTsc) {}

    /** Reads the state of a vCPU that is out of KVM_RUN. {@code msrs} from {@link dev.stasis.arch.x86.cpu.MsrPolicy}. */
    public static Saved save(Vcpu vcpu, int[] msrs, int xsaveSize, boolean hasXcrs) {
        VcpuFd fd = vcpu.fd();
        int mpState = fd.getMpState();
        var regs = fd.getRegs();
        var sregs = fd.getSregs();
        byte[] xsave = fd.getXsave(xsaveSize).region();
        var xcrs = hasXcrs ? fd.getXcrs() : List.<dev.stasis.kvm.x86.Xcr>of();
        var debugRegs = fd.getDebugRegs();
        LapicState lapic = fd.getLapic();
        List<MsrEntry> msrValues = fd.getMsrs(msrs);
        var cpuid = vcpu.cpuid();
        int tscKhz = fd.getTscKhz();
        var events = fd.getVcpuEvents();
        return new Saved(new VcpuState(mpState, regs, sregs, xsave, xcrs, debugRegs, msrValues, events, cpuid, tscKhz), lapic);
    }

    /**
     * Writes a saved state into a vCPU that has not run since it was created (or is paused). Returns a note
     * when the guest's TSC cannot run at its saved rate here ({@link TscRate}), or null.
     */
    public static String restore(Vcpu vcpu, Saved saved, Host host) {
        VcpuFd fd = vcpu.fd();
        VcpuState s = saved.vcpu();
        boolean hasXcrs = host.hasXcrs();
        String tscNote = TscRate.apply(fd, s.tscKhz(), host.canScaleTsc());
        vcpu.setCpuid(s.cpuid());
        fd.setMpState(s.mpState());
        fd.setRegs(s.regs());
        fd.setSregs(s.sregs());
        // KVM_SET_XSAVE reads this host's whole XSAVE buffer: a shorter area from another host is padded with
        // zeros (components it did not have), a longer one cut (CpuCompatibility made sure the guest's fit); the
        // saving host's components the guest cannot have (its PKRU, say) are left out.
        byte[] area = XsaveArea.fitFor(java.util.Arrays.copyOf(s.xsave(), Math.max(host.xsaveSize(), 4096)), s.cpuid());
        fd.setXsave(new dev.stasis.kvm.x86.XsaveState(area));
        if (hasXcrs && !s.xcrs().isEmpty()) {
            fd.setXcrs(s.xcrs());
        }
        fd.setDebugRegs(s.debugRegs());
        fd.setLapic(LapicSection.forRestore(saved.lapic()));
        List<MsrEntry> msrs = tscFirstDeadlineLast(s.msrs());
        fd.setMsrs(msrs);
        keepDeadlineRemaining(fd, msrs);
        fd.setVcpuEvents(s.events());
        try {
            fd.kvmclockCtrl();
        } catch (KvmException e) {
            if (e.errno() != Errno.EINVAL) { // EINVAL: the guest has not enabled kvmclock; nothing to tell it
                throw e;
            }
        }
        return tscNote;
    }

    /**
     * Some KVMs (this machine's among them) ignore a VMM's write of IA32_TSC, so the guest TSC after
     * restore is not the saved one. A TSC deadline is absolute guest TSC; to keep the time it had left, it
     * moves by the same distance as the TSC did. On a KVM that restores the TSC, the distance is ~0.
     */
    private static void keepDeadlineRemaining(VcpuFd fd, List<MsrEntry> restored) {
        MsrEntry savedTsc = find(restored, MsrEntry.IA32_TSC);
        MsrEntry savedDeadline = find(restored, MsrEntry.IA32_TSC_DEADLINE);
        if (savedTsc == null || savedDeadline == null || savedDeadline.data() == 0) {
            return;
        }
        long tscNow = fd.getMsrs(new int[] {MsrEntry.IA32_TSC}).get(0).data();
        long shift = tscNow - savedTsc.data();
        if (Math.abs(shift) > TSC_RESTORE_SLACK) {
            fd.setMsrs(List.of(new MsrEntry(MsrEntry.IA32_TSC_DEADLINE, savedDeadline.data() + shift)));
        }
    }

    /** TSC ticks that may pass between writing IA32_TSC and reading it back (well under a millisecond). */
    private static final long TSC_RESTORE_SLACK = 10_000_000;

    private static MsrEntry find(List<MsrEntry> msrs, int index) {
        return msrs.stream().filter(m -> m.index() == index).findFirst().orElse(null);
    }

    static List<MsrEntry> tscFirstDeadlineLast(List<MsrEntry> msrs) {
        List<MsrEntry> out = new ArrayList<>(msrs.size());
        msrs.stream().filter(m -> m.index() == MsrEntry.IA32_TSC).forEach(out::add);
        msrs.stream().filter(m -> m.index() != MsrEntry.IA32_TSC && m.index() != MsrEntry.IA32_TSC_DEADLINE).forEach(out::add);
        msrs.stream().filter(m -> m.index() == MsrEntry.IA32_TSC_DEADLINE).forEach(out::add);
        return out;
    }
}
