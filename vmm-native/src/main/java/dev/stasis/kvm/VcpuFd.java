package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.DebugRegs;
import dev.stasis.kvm.x86.FpuState;
import dev.stasis.kvm.x86.LapicState;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.x86.Xcr;
import dev.stasis.kvm.x86.XsaveState;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;
import dev.stasis.os.Mapping;
import java.util.ArrayList;
import java.util.List;

/**
 * A vCPU descriptor and its mapped {@code kvm_run} page.
 *
 * <p>Ordering requirements (ARCHITECTURE.md): save MP_STATE first and VCPU_EVENTS last; restore CPUID2,
 * MP_STATE, REGS, SREGS, XSAVE, XCRS, DEBUGREGS, LAPIC, MSRS, VCPU_EVENTS, then KVMCLOCK_CTRL; write
 * IA32_TSC_DEADLINE after KVM_SET_LAPIC and after IA32_TSC. Every method must be called from one thread at a time,
 * and all but {@link #run()} only while the vCPU is out of KVM_RUN.
 */
public final class VcpuFd extends Fd {
    public static final int MP_STATE_RUNNABLE = 0, MP_STATE_UNINITIALIZED = 1, MP_STATE_INIT_RECEIVED = 2,
            MP_STATE_HALTED = 3, MP_STATE_SIPI_RECEIVED = 4;
    /** KVM_GET/SET_MSRS moves at most this many entries per call; longer lists go in chunks. */
    private static final int MSR_CHUNK = 64;

    private final int id;
    private final String context;
    private final Mapping runMapping;
    private final KvmRun run;

    VcpuFd(int fd, int id, int mmapSize) {
        super(fd);
        this.id = id;
        this.context = "vcpu " + id;
        try {
            this.runMapping = Mapping.ofFd(fd, mmapSize, 0);
        } catch (RuntimeException e) {
            super.close();
            throw e;
        }
        this.run = new KvmRun(runMapping.address(), mmapSize);
    }

    public int id() {
        return id;
    }

    /** The shared {@code kvm_run} page: exit reason and exit data after {@link #run()}. */
    public KvmRun runPage() {
        return run;
    }

    /**
     * {@code KVM_RUN}. Returns true when the guest exited with a reason in {@link #runPage()}, false when
     * a signal (a kick) interrupted it (EINTR) or KVM asked to be called again (EAGAIN).
     */
    public boolean run() {
        checkOpen(KvmIoctl.KVM_RUN, ctx());
        int r = LibC.ioctl(fd(), KvmIoctl.KVM_RUN.request, 0L);
        if (r < 0) {
            int errno = Native.getLastError();
            if (errno == Errno.EINTR || errno == Errno.EAGAIN) {
                return false;
            }
            throw new KvmException(KvmIoctl.KVM_RUN, errno, "vcpu " + id);
        }
        return true;
    }

    public Regs getRegs() {
        Memory m = new Memory(REGS_SIZE);
        ioctl(KvmIoctl.KVM_GET_REGS, m, ctx());
        return Regs.read(m);
    }

    public void setRegs(Regs regs) {
        Memory m = new Memory(REGS_SIZE);
        regs.write(m);
        ioctl(KvmIoctl.KVM_SET_REGS, m, ctx());
    }

    public Sregs getSregs() {
        Memory m = new Memory(SREGS_SIZE);
        ioctl(KvmIoctl.KVM_GET_SREGS, m, ctx());
        return Sregs.read(m);
    }

    public void setSregs(Sregs sregs) {
        Memory m = new Memory(SREGS_SIZE);
        m.clear();
        sregs.write(m);
        ioctl(KvmIoctl.KVM_SET_SREGS, m, ctx());
    }

    public FpuState getFpu() {
        Memory m = new Memory(FPU_SIZE);
        ioctl(KvmIoctl.KVM_GET_FPU, m, ctx());
        return new FpuState(m.getByteArray(0, FPU_SIZE));
    }

    public void setFpu(FpuState fpu) {
        Memory m = new Memory(FPU_SIZE);
        m.write(0, fpu.raw(), 0, FPU_SIZE);
        ioctl(KvmIoctl.KVM_SET_FPU, m, ctx());
    }

    /**
     * The XSAVE area: {@code KVM_GET_XSAVE2} with {@code size} bytes when {@code size} exceeds 4 KiB (size
     * from KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2)), otherwise {@code KVM_GET_XSAVE}.
     */
    public XsaveState getXsave(int size) {
        int n = Math.max(size, XSAVE_SIZE);
        Memory m = new Memory(n);
        m.clear();
        ioctl(n > XSAVE_SIZE ? KvmIoctl.KVM_GET_XSAVE2 : KvmIoctl.KVM_GET_XSAVE, m, ctx());
        return new XsaveState(m.getByteArray(0, n));
    }

    public void setXsave(XsaveState xsave) {
        byte[] region = xsave.region();
        Memory m = new Memory(region.length);
        m.write(0, region, 0, region.length);
        ioctl(KvmIoctl.KVM_SET_XSAVE, m, ctx() + ", " + region.length + " bytes");
    }

    public List<Xcr> getXcrs() {
        Memory m = new Memory(XCRS_SIZE);
        m.clear();
        ioctl(KvmIoctl.KVM_GET_XCRS, m, ctx());
        int n = Math.min(m.getInt(0), MAX_XCRS);
        List<Xcr> xcrs = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            long o = XCRS_XCRS + (long) i * XCR_SIZE;
            xcrs.add(new Xcr(m.getInt(o), m.getLong(o + 8)));
        }
        return xcrs;
    }

    public void setXcrs(List<Xcr> xcrs) {
        if (xcrs.size() > MAX_XCRS) {
            throw new IllegalArgumentException("at most " + MAX_XCRS + " XCRs, got " + xcrs.size());
        }
        Memory m = new Memory(XCRS_SIZE);
        m.clear();
        m.setInt(0, xcrs.size());
        for (int i = 0; i < xcrs.size(); i++) {
            long o = XCRS_XCRS + (long) i * XCR_SIZE;
            m.setInt(o, xcrs.get(i).xcr());
            m.setLong(o + 8, xcrs.get(i).value());
        }
        ioctl(KvmIoctl.KVM_SET_XCRS, m, ctx());
    }

    /** {@code KVM_GET_MSRS} for every index, in chunks; fails naming the first MSR KVM would not read. */
    public List<MsrEntry> getMsrs(int[] indices) {
        List<MsrEntry> out = new ArrayList<>(indices.length);
        for (int start = 0; start < indices.length; start += MSR_CHUNK) {
            int n = Math.min(MSR_CHUNK, indices.length - start);
            Memory m = msrBuffer(n);
            for (int i = 0; i < n; i++) {
                m.setInt(MSRS_HEADER_SIZE + (long) i * MSR_ENTRY_SIZE, indices[start + i]);
            }
            int read = ioctl(KvmIoctl.KVM_GET_MSRS, m, ctx());
            if (read != n) {
                throw new KvmException(KvmIoctl.KVM_GET_MSRS, Errno.EINVAL,
                        String.format("%s: MSR 0x%x not readable", ctx(), indices[start + read]));
            }
            for (int i = 0; i < n; i++) {
                long o = MSRS_HEADER_SIZE + (long) i * MSR_ENTRY_SIZE;
                out.add(new MsrEntry(m.getInt(o), m.getLong(o + 8)));
            }
        }
        return out;
    }

    /** {@code KVM_SET_MSRS} in list order (order matters: IA32_TSC before IA32_TSC_DEADLINE). */
    public void setMsrs(List<MsrEntry> entries) {
        for (int start = 0; start < entries.size(); start += MSR_CHUNK) {
            int n = Math.min(MSR_CHUNK, entries.size() - start);
            Memory m = msrBuffer(n);
            for (int i = 0; i < n; i++) {
                long o = MSRS_HEADER_SIZE + (long) i * MSR_ENTRY_SIZE;
                m.setInt(o, entries.get(start + i).index());
                m.setLong(o + 8, entries.get(start + i).data());
            }
            int written = ioctl(KvmIoctl.KVM_SET_MSRS, m, ctx());
            if (written != n) {
                throw new KvmException(KvmIoctl.KVM_SET_MSRS, Errno.EINVAL,
                        String.format("%s: KVM refused %s", ctx(), entries.get(start + written)));
            }
        }
    }

    private static Memory msrBuffer(int n) {
        Memory m = new Memory(MSRS_HEADER_SIZE + (long) n * MSR_ENTRY_SIZE);
        m.clear();
        m.setInt(0, n);
        return m;
    }

    public LapicState getLapic() {
        Memory m = new Memory(LAPIC_SIZE);
        ioctl(KvmIoctl.KVM_GET_LAPIC, m, ctx());
        return new LapicState(m.getByteArray(0, LAPIC_SIZE));
    }

    public void setLapic(LapicState lapic) {
        Memory m = new Memory(LAPIC_SIZE);
        m.write(0, lapic.registers(), 0, LAPIC_SIZE);
        ioctl(KvmIoctl.KVM_SET_LAPIC, m, ctx());
    }

    public int getMpState() {
        Memory m = new Memory(MP_STATE_SIZE);
        ioctl(KvmIoctl.KVM_GET_MP_STATE, m, ctx());
        return m.getInt(0);
    }

    public void setMpState(int state) {
        Memory m = new Memory(MP_STATE_SIZE);
        m.setInt(0, state);
        ioctl(KvmIoctl.KVM_SET_MP_STATE, m, ctx() + ", mp_state " + state);
    }

    public VcpuEvents getVcpuEvents() {
        Memory m = new Memory(VCPU_EVENTS_SIZE);
        m.clear();
        ioctl(KvmIoctl.KVM_GET_VCPU_EVENTS, m, ctx());
        return VcpuEvents.read(m);
    }

    public void setVcpuEvents(VcpuEvents events) {
        Memory m = new Memory(VCPU_EVENTS_SIZE);
        events.write(m);
        ioctl(KvmIoctl.KVM_SET_VCPU_EVENTS, m, ctx());
    }

    public DebugRegs getDebugRegs() {
        Memory m = new Memory(DEBUGREGS_SIZE);
        ioctl(KvmIoctl.KVM_GET_DEBUGREGS, m, ctx());
        return DebugRegs.read(m);
    }

    public void setDebugRegs(DebugRegs regs) {
        Memory m = new Memory(DEBUGREGS_SIZE);
        regs.write(m);
        ioctl(KvmIoctl.KVM_SET_DEBUGREGS, m, ctx());
    }

    public void setCpuid2(List<CpuidEntry> entries) {
        Memory m = new Memory(CPUID2_HEADER_SIZE + (long) entries.size() * CPUID_ENTRY_SIZE);
        m.clear();
        m.setInt(0, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            entries.get(i).write(m, CPUID2_HEADER_SIZE + (long) i * CPUID_ENTRY_SIZE);
        }
        ioctl(KvmIoctl.KVM_SET_CPUID2, m, ctx() + ", " + entries.size() + " entries");
    }

    public List<CpuidEntry> getCpuid2() {
        return Kvm.readCpuid(this, KvmIoctl.KVM_GET_CPUID2, ctx());
    }

    public int getTscKhz() {
        return ioctl(KvmIoctl.KVM_GET_TSC_KHZ, 0L, ctx());
    }

    public void setTscKhz(int khz) {
        ioctl(KvmIoctl.KVM_SET_TSC_KHZ, khz, ctx() + ", " + khz + " kHz");
    }

    /**
     * {@code KVM_SET_SIGNAL_MASK}: the signal mask in force while this vCPU is inside KVM_RUN
     * ({@code mask} bit n-1 blocks signal n, as the kernel's 64-bit sigset).
     */
    public void setSignalMask(long mask) {
        Memory m = new Memory(SIGNAL_MASK_HEADER_SIZE + 8);
        m.setInt(0, 8);
        m.setLong(SIGNAL_MASK_HEADER_SIZE, mask);
        ioctl(KvmIoctl.KVM_SET_SIGNAL_MASK, m, ctx());
    }

    /** {@code KVM_KVMCLOCK_CTRL}: tells the guest it was paused, so its soft-lockup watchdog does not fire. */
    public void kvmclockCtrl() {
        ioctl(KvmIoctl.KVM_KVMCLOCK_CTRL, 0L, ctx());
    }

    /** Built once: every ioctl names its vCPU, and KVM_RUN must not allocate. */
    private String ctx() {
        return context;
    }

    @Override
    public void close() {
        runMapping.close();
        super.close();
    }
}
