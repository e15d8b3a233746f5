package dev.stasis.vm;

import dev.stasis.arch.x86.BootRegisters;
import dev.stasis.arch.x86.cpu.CpuCompatibility;
import dev.stasis.arch.x86.cpu.CpuidBuilder;
import dev.stasis.arch.x86.cpu.HostCpu;
import dev.stasis.arch.x86.cpu.MsrPolicy;
import dev.stasis.kvm.KvmException;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.bus.MmioBus;
import dev.stasis.bus.PioBus;
import dev.stasis.devices.IrqLine;
import dev.stasis.kvm.Capability;
import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.KvmRun;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.VmFd;
import dev.stasis.loader.EntryPoint;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.RamBacking;
import dev.stasis.memory.MemoryRange;
import dev.stasis.os.SpareThreads;
import dev.stasis.vcpu.ExitHandler;
import dev.stasis.vcpu.GuestStop;
import dev.stasis.vcpu.RunControl;
import dev.stasis.vcpu.Vcpu;
import dev.stasis.vcpu.VcpuLoop;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A KVM virtual machine: guest RAM in memory slots, the in-kernel irqchip and PIT, vCPUs on platform
 * threads, and the port-I/O and MMIO buses their exits go to.
 *
 * <p>Life cycle: {@link #create} builds everything (irqchip before vCPUs, as KVM requires); the caller
 * attaches devices to {@link #pio()}/{@link #mmio()}, places a guest in {@link #memory()} and calls
 * {@link #boot}; {@link #start} runs the vCPUs; {@link #awaitExit} returns when the guest or the host ended
 * the run; {@link #close} frees everything.
 */
public final class Vm implements AutoCloseable {
    private final java.util.List<Runnable> resumeHooks = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** KVM on Intel needs three pages for the real-mode TSS and one for the identity map, out of RAM's way. */
    private static final long TSS_ADDRESS = 0xfffbd000L;
    private static final long IDENTITY_MAP_ADDRESS = 0xfffbc000L;

    private final VmConfig config;
    private final Kvm kvm;
    private final VmFd vmFd;
    private final GuestMemory memory;
    private final List<Vcpu> vcpus = new ArrayList<>();
    private final PioBus pio = new PioBus();
    private final MmioBus mmio = new MmioBus();
    private final RunControl control;
    private final CompletableFuture<VmExit> exit = new CompletableFuture<>();
    private final List<Thread> threads = new ArrayList<>();
    /** vCPU threads made ahead, from construction on, which {@link #start} takes (a new thread: 0.5-6 ms on a slow host). */
    private final SpareThreads prepared = new SpareThreads();
    private final int tscKhz;
    private final int xsaveSize;
    private final boolean hasXcrs;
    private final int[] stateMsrs;
    private final HostCpu hostCpu;
    /** Whether the memory slots carry KVM_MEM_LOG_DIRTY_PAGES; see {@link #setDirtyLogging}. */
    private boolean dirtyLogging;

    private Vm(VmConfig config, Kvm kvm, VmFd vmFd, GuestMemory memory) {
        this.config = config;
        this.kvm = kvm;
        this.vmFd = vmFd;
        this.memory = memory;
        try {
            // The memory slots before the irqchip: once KVM has set up the VM's interrupt routing, each slot registration
            // waits for a grace period (1 GiB: 4-12 ms after it, 0.3-0.6 ms before it, on a 2-CPU host; the 1 GiB clone's
            // hand-over p50 went from 19.6 to 13.7 ms). Firecracker orders them the same way.
            List<MemoryRange> ranges = memory.layout().ranges();
            for (int slot = 0; slot < ranges.size(); slot++) {
                MemoryRange r = ranges.get(slot);
                vmFd.setUserMemoryRegion(slot, 0, r.gpa(), r.size(), memory.mapping(slot).address()); // no dirty log: see setDirtyLogging
            }
            vmFd.setTssAddr(TSS_ADDRESS);
            vmFd.setIdentityMapAddr(IDENTITY_MAP_ADDRESS);
            vmFd.createIrqchip();
            vmFd.createPit2();
            this.hostCpu = HostCpu.of(kvm);
            List<List<CpuidEntry>> cpuid = new ArrayList<>();
            for (int id = 0; id < config.vcpus(); id++) {
                cpuid.add(CpuidBuilder.build(config.cpu(), hostCpu, id, config.vcpus()));
            }
            // Refused before any vCPU exists: a model this host cannot present would fail later, far from the cause.
            checkModel(config, hostCpu, cpuid.get(0));
            List<MsrEntry> presetMsrs = config.cpu().msrs().entrySet().stream().map(e -> new MsrEntry(e.getKey(), e.getValue())).toList();
            for (int id = 0; id < config.vcpus(); id++) {
                VcpuFd fd = vmFd.createVcpu(id);
                Vcpu vcpu = new Vcpu(id, fd);
                vcpus.add(vcpu);
                vcpu.setCpuid(cpuid.get(id));
                fd.setMsrs(presetMsrs);
            }
            this.tscKhz = vcpus.get(0).fd().getTscKhz();
            this.xsaveSize = Math.max(kvm.checkExtension(Capability.XSAVE2), 0);
            this.hasXcrs = kvm.has(Capability.XCRS);
            this.stateMsrs = MsrPolicy.forCpu(config.cpu());
            checkReadable(vcpus.get(0).fd(), stateMsrs);
        } catch (RuntimeException e) {
            vcpus.forEach(Vcpu::close); // what it made; the VM descriptor, KVM and the memory are create's to close
            throw e;
        }
        this.control = new RunControl(vcpus);
        prepared.prepareInBackground(vcpus.size()); // made while the caller restores or sets up the state
    }

    /** Opens KVM and builds the VM described by {@code config}; nothing runs yet. */
    public static Vm create(VmConfig config) {
        return create(config, RamBacking.ZERO);
    }

    /** {@link #create(VmConfig)}, its RAM's pages coming from {@code backing} until the guest writes them. */
    public static Vm create(VmConfig config, RamBacking backing) {
        GuestMemory memory = new GuestMemory(config.layout(), backing);
        try {
            return create(config, memory);
        } catch (RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    /**
     * {@link #create(VmConfig)} over {@code memory} (of {@code config}'s layout), which the VM owns once made; when this
     * throws it stays the caller's, open. A migration's destination fills it while the VM is built.
     */
    public static Vm create(VmConfig config, GuestMemory memory) {
        if (!memory.layout().equals(config.layout())) {
            throw new IllegalArgumentException("guest memory " + memory.layout().ranges() + " is not the VM's " + config.layout().ranges());
        }
        Kvm kvm = Kvm.open();
        VmFd vmFd = null;
        try {
            kvm.require(Capability.IRQCHIP, Capability.PIT2, Capability.USER_MEMORY, Capability.SET_TSS_ADDR,
                    Capability.EXT_CPUID, Capability.MP_STATE, Capability.VCPU_EVENTS);
            int maxVcpus = kvm.checkExtension(Capability.MAX_VCPUS);
            if (maxVcpus > 0 && config.vcpus() > maxVcpus) {
                throw new IllegalArgumentException("this host's KVM allows at most " + maxVcpus + " vCPUs, asked for " + config.vcpus());
            }
            vmFd = kvm.createVm();
            return new Vm(config, kvm, vmFd, memory);
        } catch (RuntimeException e) {
            if (vmFd != null) {
                vmFd.close();
            }
            kvm.close();
            throw e;
        }
    }

    /**
     * Why this host cannot present {@code config}'s CPU model to its vCPUs, as {@link #create} would find it, or null:
     * checked without building a VM (a migration's destination answers its source at once and builds meanwhile).
     */
    public static String cpuRefusal(VmConfig config) {
        try (Kvm kvm = Kvm.open()) {
            HostCpu host = HostCpu.of(kvm);
            checkModel(config, host, CpuidBuilder.build(config.cpu(), host, 0, config.vcpus()));
            return null;
        } catch (RuntimeException e) {
            return e.getMessage();
        }
    }

    /** Refuses, naming each feature, a CPU model whose vCPU 0 ({@code cpuid}) this host cannot present. */
    private static void checkModel(VmConfig config, HostCpu host, List<CpuidEntry> cpuid) {
        CpuCompatibility.check(cpuid, host, "the CPU model " + config.cpu().model());
    }

    public VmConfig config() { return config; }
    public Kvm kvm() { return kvm; }
    public VmFd vmFd() { return vmFd; }
    public GuestMemory memory() { return memory; }
    public PioBus pio() { return pio; }
    public MmioBus mmio() { return mmio; }
    public List<Vcpu> vcpus() { return Collections.unmodifiableList(vcpus); }
    public RunControl runControl() { return control; }

    /**
     * Turns KVM's dirty log of every memory slot on or off ({@code KVM_MEM_LOG_DIRTY_PAGES}), by
     * re-registering each slot with the same number, address, size and host mapping and only the flag
     * changed, which KVM allows while vCPUs run. Off by default: on hardware KVM a logged slot is mapped with
     * 4 KiB pages only, so only a live migration turns it on, for as long as it runs. Turning it on starts an
     * empty log (every page write-protected); while off, {@code KVM_GET_DIRTY_LOG} fails with ENOENT. The VMM's
     * own writes to guest RAM ({@link GuestMemory#writtenPages}) are tracked for exactly as long.
     */
    public synchronized void setDirtyLogging(boolean on) {
        if (on == dirtyLogging) {
            return;
        }
        List<MemoryRange> ranges = memory.layout().ranges();
        for (int slot = 0; slot < ranges.size(); slot++) {
            MemoryRange r = ranges.get(slot);
            vmFd.setUserMemoryRegion(slot, on ? VmFd.MEM_LOG_DIRTY_PAGES : 0, r.gpa(), r.size(), memory.mapping(slot).address());
        }
        memory.writtenPages().track(on); // the VMM's own writes, which KVM's log does not see
        dirtyLogging = on;
    }

    public synchronized boolean isDirtyLogging() {
        return dirtyLogging;
    }

    /** The guest TSC frequency in kHz. */
    public int tscKhz() {
        return tscKhz;
    }

    /** Bytes of a vCPU's XSAVE area (KVM_CAP_XSAVE2), or 0 for the 4 KiB legacy size. */
    public int xsaveSize() {
        return xsaveSize;
    }

    public boolean hasXcrs() {
        return hasXcrs;
    }

    /** The MSRs that make up a vCPU's state ({@link MsrPolicy}), each checked readable at creation. */
    public int[] stateMsrs() {
        return stateMsrs.clone();
    }

    /** What this host can give a guest's CPU. */
    public HostCpu hostCpu() {
        return hostCpu;
    }

    /** Fails now, naming the MSR, rather than at the first snapshot: every declared MSR must be readable here. */
    private static void checkReadable(VcpuFd fd, int[] msrs) {
        try {
            fd.getMsrs(msrs);
        } catch (KvmException e) {
            for (int index : msrs) {
                try {
                    fd.getMsrs(new int[] {index});
                } catch (KvmException one) {
                    throw new IllegalStateException("this host's KVM cannot read " + MsrPolicy.describe(index)
                            + ", part of the vCPU state of this CPU model: " + one.getMessage());
                }
            }
            throw e;
        }
    }

    /** A level-triggered line into GSI {@code gsi} of the in-kernel IOAPIC (and PIC for 0-15). */
    public IrqLine irqLine(int gsi) {
        return level -> vmFd.irqLine(gsi, level);
    }

    /**
     * Sets the vCPUs' registers for a loader's entry point. vCPUs that do not start at the entry are
     * left waiting for INIT/SIPI, as KVM created them.
     */
    public void boot(EntryPoint entry) {
        for (Vcpu v : vcpus) {
            if (v.id() != 0 && !entry.allVcpus()) {
                continue;
            }
            VcpuFd fd = v.fd();
            fd.setSregs(BootRegisters.sregs(fd.getSregs(), entry));
            fd.setRegs(BootRegisters.regs(entry, v.id()));
            if (v.id() != 0) {
                fd.setMpState(VcpuFd.MP_STATE_RUNNABLE);
            }
        }
    }

    /** True once {@link #start} ran. */
    public synchronized boolean started() {
        return !threads.isEmpty();
    }

    /** Starts one platform thread per vCPU (those made ahead, or new ones). */
    public synchronized void start() {
        if (!threads.isEmpty()) {
            throw new IllegalStateException("the VM is already running");
        }
        ExitHandler handler = new StopOnGuestExit();
        for (Vcpu v : vcpus) {
            threads.add(prepared.start(new VcpuLoop(v, control, pio, mmio, handler), "vcpu-" + v.id()));
        }
    }

    public void pauseAll() {
        control.pauseAll();
    }

    /**
     * Lets the vCPUs run again, after whatever was registered with {@link #onResume} (devices whose I/O was held for a
     * snapshot or migration go on first: their queues only move again while the guest can see them move).
     */
    public void resumeAll() {
        resumeHooks.forEach(Runnable::run);
        control.resumeAll();
    }

    /** Runs {@code hook} at every {@link #resumeAll}, before the vCPUs run. */
    public void onResume(Runnable hook) {
        resumeHooks.add(hook);
    }

    /** Ends the run with {@code why}, unless it already ended; every vCPU leaves KVM_RUN. */
    public void stop(VmExit why) {
        exit.complete(why);
        if (control != null) { // null only while the constructor is failing
            control.stopAll();
        }
    }

    public boolean isStopped() {
        return exit.isDone();
    }

    public VmExit awaitExit() throws InterruptedException {
        try {
            return exit.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** The exit, or null if the VM is still running after {@code timeoutMillis}. */
    public VmExit awaitExit(long timeoutMillis) throws InterruptedException {
        try {
            return exit.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            return null;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** {@link #close} but for the guest memory, which stays open: a VM whose maker gave it memory and could not finish it. */
    public void closeKeepingMemory() {
        close(false);
    }

    @Override
    public void close() {
        close(true);
    }

    private void close(boolean withMemory) {
        stopVcpus();
        boolean threadLeft = false;
        for (int i = 0; i < vcpus.size(); i++) {
            if (i < threads.size() && threads.get(i).isAlive()) {
                // A vCPU thread that did not end may still touch its kvm_run page and guest RAM: unmapping them
                // under it would crash the JVM, so they are left to the process's exit.
                threadLeft = true;
                continue;
            }
            vcpus.get(i).close();
        }
        if (threadLeft) {
            return;
        }
        vmFd.close();
        if (withMemory) {
            memory.close();
        }
        kvm.close();
    }

    /**
     * Ends the run, if it has not ended, and waits for every vCPU thread to leave (5 s at most): what must come before
     * devices that vCPUs reach let go of their descriptors (a doorbell a vCPU still rings, an image it still reads).
     */
    public void stopVcpus() {
        prepared.close(); // threads made for a start that did not come end
        stop(VmExit.hostStop("VM closed"));
        if (control != null) {
            try {
                control.awaitAllLeft(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (Thread t : threads) {
            try {
                t.join(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Guest-caused stops end the run with a report; a reset request ends it as {@link VmExit.Kind#RESET}. */
    private final class StopOnGuestExit implements ExitHandler {
        @Override
        public void guestStopped(Vcpu vcpu, GuestStop stop, KvmRun run) {
            Vm.this.stop(GuestStopReport.of(vcpu, stop, run));
        }

        @Override
        public void resetRequested(Vcpu vcpu) {
            Vm.this.stop(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset on " + vcpu, ""));
        }

        @Override
        public void hostFailure(Vcpu vcpu, Throwable error) {
            Vm.this.stop(new VmExit(VmExit.Kind.HOST_FAILURE, 0, "VMM failure on " + vcpu + ": " + error, stackTrace(error)));
        }
    }

    private static String stackTrace(Throwable t) {
        java.io.StringWriter w = new java.io.StringWriter();
        t.printStackTrace(new java.io.PrintWriter(w));
        return w.toString();
    }
}
