package dev.stasis.machine;

import dev.stasis.arch.x86.VcpuState;
import dev.stasis.devices.debugexit.ExitPort;
import dev.stasis.devices.i8042.I8042State;
import dev.stasis.devices.pvpanic.PvPanic;
import dev.stasis.devices.rtc.CmosRtcState;
import dev.stasis.devices.uart.UartState;
import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.vm.VmConfigSection;
import dev.stasis.devices.i8042.I8042;
import dev.stasis.devices.rtc.CmosRtc;
import dev.stasis.devices.uart.Uart16550;
import dev.stasis.loader.InvalidImageException;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.RamFill;
import dev.stasis.memory.RamBacking;
import dev.stasis.memory.MemoryRange;
import dev.stasis.vm.ReadyVms;
import dev.stasis.vm.Vm;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A small PC: a {@link Vm} with KVM's in-kernel irqchip and PIT, a 16550A on COM1 (IRQ 4), an i8042
 * for reset, a CMOS RTC, the test exit port and a pvpanic port. The console is the UART.
 */
public final class Machine implements AutoCloseable {
    public static final int COM1_PORT = 0x3f8;
    public static final int COM1_IRQ = 4;
    public static final int RTC_PORT = 0x70;

    private final Vm vm;
    private final Uart16550 uart;
    private final I8042 i8042;
    private final CmosRtc rtc;
    /** Every stateful part, in the order they are saved and restored within a {@link MachinePart.Phase}. */
    private final List<MachinePart> parts;
    private final List<VirtioBlkPart> disks = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    /** Where devices tell what a guest did wrong to them, one line each. */
    private final Consumer<String> deviceLog = line -> System.err.println("stasis: " + line);
    private volatile DiskCheck diskCheck = DiskCheck.FINGERPRINT;
    /** Reasons the parts' I/O stands still: the pause of a snapshot or migration (one), and {@link #holdIo} calls. */
    private int ioHolds;
    private boolean pauseHold;
    /** The disks' locks were let go of for a migration's destination ({@link #releaseDisks}). */
    private boolean disksReleased;

    private Machine(Vm vm, OutputStream console, List<DiskSpec> diskSpecs) throws IOException {
        this.vm = vm;
        this.uart = new Uart16550(vm.irqLine(COM1_IRQ), console);
        this.i8042 = new I8042(() -> vm.stop(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset through the i8042", "")));
        this.rtc = new CmosRtc();

        vm.pio().attach(COM1_PORT, 8, uart, "uart");
        vm.pio().attach(I8042.BASE, I8042.PORT_COUNT, i8042, "i8042");
        vm.pio().attach(RTC_PORT, 2, rtc, "rtc");
        vm.pio().attach(ExitPort.EXIT_PORT, ExitPort.PORT_COUNT, new ExitPort(vm.config().exit(), status -> vm.stop(VmExit.guestExit(status))), "exit port");
        vm.pio().attach(PvPanic.PORT, 1, new PvPanic(event -> vm.stop(new VmExit(VmExit.Kind.GUEST_FAILURE, 0,
                String.format("guest reported a panic (pvpanic port 0x%x, event 0x%x)", PvPanic.PORT, event), ""))), "pvpanic");
        CmosMemorySize.write(rtc, vm.memory().layout());
        List<MachinePart> all = new ArrayList<>(List.of(
                new DevicePart<>(UartState.DESCRIPTION, uart::save, uart::restore),
                new DevicePart<>(I8042State.DESCRIPTION, i8042::save, i8042::restore),
                new DevicePart<>(CmosRtcState.DESCRIPTION, rtc::save, rtc::restore)));
        this.parts = all;
        all.addAll(List.of(new KvmClockPart(vm.vmFd()), new IrqchipPart(vm.vmFd()), new VcpuPart(vm)));
        attachDisks(diskSpecs);
        vm.onResume(this::vcpusResuming);
    }

    /**
     * Adds {@code specs} as virtio-blk devices in virtio-mmio slots 0, 1, ... (see {@link VirtioSlots}) to a machine that
     * has none and has never run: at creation, or for a migration's destination, which may open a shared disk only
     * once the source has let go of it. A disk that cannot be opened is an {@link IOException} saying why; then none is
     * attached.
     */
    public synchronized void attachDisks(List<DiskSpec> specs) throws IOException {
        if (specs.isEmpty()) {
            return;
        }
        if (!disks.isEmpty() || vm.started()) {
            throw new IllegalStateException("disks are attached once, before the machine runs");
        }
        if (specs.size() > VirtioSlots.COUNT) {
            throw new IllegalArgumentException("at most " + VirtioSlots.COUNT + " disks, not " + specs.size());
        }
        List<VirtioBlkPart> made = new ArrayList<>();
        try {
            for (int slot = 0; slot < specs.size(); slot++) {
                made.add(new VirtioBlkPart(slot, specs.get(slot), vm, deviceLog, () -> diskCheck));
            }
        } catch (IOException | RuntimeException e) {
            made.forEach(VirtioBlkPart::close); // their locks go with them
            throw e;
        }
        disks.addAll(made);
        int at = parts.indexOf(parts.stream().filter(p -> p instanceof KvmClockPart).findFirst().orElseThrow());
        parts.addAll(at, made); // after the other devices, in the order their sections are saved
        for (int i = 0; i < ioHolds; i++) {
            made.forEach(VirtioBlkPart::quiesce); // held as the machine's other parts are
        }
    }

    /**
     * Lets go of every disk's lock, for a migration's hand-over on shared storage: the machine must be paused and
     * quiesced with its disks flushed ({@link #saveState} flushes them), and must not run again unless
     * {@link #retakeDisks} succeeds.
     */
    public synchronized void releaseDisks() {
        disks().forEach(d -> d.image().releaseLock());
        disksReleased = !disks.isEmpty();
    }

    /**
     * Takes every disk's lock back after a hand-over that failed, waiting up to 10 s in all for a process letting go;
     * throws when another keeps one. A resume does this first (and does not resume if it fails).
     */
    public synchronized void retakeDisks() throws IOException {
        long until = System.nanoTime() + 10_000_000_000L;
        for (VirtioBlk d : disks()) {
            d.image().retakeLock(Math.max(0, (until - System.nanoTime()) / 1_000_000));
        }
        disksReleased = false;
    }

    /** Builds the VM and its devices; UART output goes to {@code console}. */
    public static Machine create(VmConfig config, OutputStream console) {
        return create(config, console, RamBacking.ZERO);
    }

    /** {@link #create(VmConfig, OutputStream)}, guest RAM's pages coming from {@code backing} until written. */
    public static Machine create(VmConfig config, OutputStream console, RamBacking backing) {
        try {
            return create(config, console, backing, List.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // no disk, nothing to open
        }
    }

    /**
     * {@link #create(VmConfig, OutputStream, RamBacking)} with {@code disks} as virtio-blk devices in virtio-mmio slots 0,
     * 1, ... (see {@link VirtioSlots}); a disk that cannot be opened is an {@link IOException} saying why. Zero-backed,
     * it takes the VM kept built for {@code config} if there is one ({@link ReadyVms}).
     */
    public static Machine create(VmConfig config, OutputStream console, RamBacking backing, List<DiskSpec> disks) throws IOException {
        Vm ready = backing == RamBacking.ZERO ? ReadyVms.take(config) : null;
        if (ready != null) {
            try {
                return new Machine(ready, console, disks);
            } catch (IOException | RuntimeException e) {
                ready.close();
                ReadyVms.replenish(); // no machine will start to ask for the next
                throw e;
            }
        }
        dev.stasis.memory.GuestMemory memory = new dev.stasis.memory.GuestMemory(config.layout(), backing);
        try {
            return create(config, console, memory, disks);
        } catch (IOException | RuntimeException e) {
            memory.close();
            throw e;
        }
    }

    /**
     * {@link #create(VmConfig, OutputStream)} over {@code memory} (of the config's layout), which the machine owns once
     * made; when this throws it stays the caller's, open (a migration's destination writes pages into it meanwhile).
     */
    public static Machine create(VmConfig config, OutputStream console, dev.stasis.memory.GuestMemory memory) {
        try {
            return create(config, console, memory, List.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e); // no disk, nothing to open
        }
    }

    private static Machine create(VmConfig config, OutputStream console, dev.stasis.memory.GuestMemory memory, List<DiskSpec> disks) throws IOException {
        Vm vm = Vm.create(config, memory);
        try {
            return new Machine(vm, console, disks);
        } catch (IOException | RuntimeException e) {
            vm.closeKeepingMemory();
            throw e;
        }
    }

    /**
     * A machine of the VMM's own (2 MiB of RAM, one vCPU of {@code cpu}; it runs no guest, at most a
     * {@link dev.stasis.loader.ScratchProgram}), for running a code path once before it
     * counts: the first save, capture or restore in a process is class loading and interpreted code, and where a
     * guest stands still (a live snapshot's pause, a migration's stop-and-copy) that must be done already.
     */
    public static Machine scratch(dev.stasis.arch.x86.cpu.GuestCpu cpu) {
        return create(new VmConfig(dev.stasis.memory.MemoryLayout.ofSize(2 << 20), 1, cpu), OutputStream.nullOutputStream());
    }

    public Vm vm() { return vm; }
    public Uart16550 uart() { return uart; }
    public I8042 i8042() { return i8042; }
    public CmosRtc rtc() { return rtc; }
    public GuestMemory memory() { return vm.memory(); }

    /** The disks, in slot order. */
    public List<VirtioBlk> disks() { return disks.stream().map(VirtioBlkPart::device).toList(); }

    /**
     * Writes the disks' dirty pages out while the guest runs, and waits for the fingerprint scan of a disk opened lately,
     * so the flush and fingerprint inside a snapshot's or migration's pause have little left to do. Best effort: a
     * flush that fails here fails again, and is reported, in the pause.
     */
    public void preflushDisks() {
        for (VirtioBlk d : disks()) {
            try {
                d.image().flush();
                d.image().fingerprint(); // waits for the scan of a disk opened lately, here rather than in the pause
            } catch (IOException ignored) {
                // told by the snapshot's own flush
            }
        }
    }

    /** A restore puts memory back over disks whose content changed since the snapshot, with a note, instead of refusing. */
    public void acceptChangedDisks(boolean accept) { this.diskCheck = accept ? DiskCheck.ACCEPT_CHANGED : DiskCheck.FINGERPRINT; }

    /** How a restore holds the disks against the state's record of them. */
    public void diskCheck(DiskCheck check) { this.diskCheck = check; }

    /** Things the user should know about this machine, e.g. a TSC that could not keep its rate on restore. */
    public synchronized List<String> notes() { return List.copyOf(notes); }

    public synchronized void note(String note) { notes.add(note); }

    /** Places the guest in memory and points the boot vCPU(s) at its entry. */
    public void boot(BootSource source) {
        vm.boot(source.place(vm));
    }

    /** Copies {@code file} into guest RAM at {@code gpa} (QEMU's generic loader), in 64 MiB steps. */
    public void loadFile(Path file, long gpa) throws IOException {
        long size = Files.size(file);
        MemoryRange range = vm.memory().layout().find(gpa, size);
        if (range == null) {
            throw new InvalidImageException(String.format("%s (%d bytes) does not fit in guest RAM at 0x%x", file, size, gpa));
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] chunk = new byte[(int) Math.min(size, 64 << 20)];
            long at = gpa;
            int n;
            while ((n = in.readNBytes(chunk, 0, chunk.length)) > 0) {
                vm.memory().write(at, chunk, 0, n);
                at += n;
            }
        }
    }

    /**
     * Feeds {@code in} to this machine's UART (one reader thread per stream for the process, moved to the
     * newest machine), holding back while its FIFO is full or the VM is paused.
     */
    public void attachConsoleInput(InputStream in) {
        ConsoleInput.attach(in, uart, vm::isStopped, vm.runControl()::isPauseRequested);
    }

    /**
     * Writes every section of this machine to {@code sink}: the VM configuration, then each part in
     * {@link MachinePart.Phase#SAVE} order. The vCPUs must be paused or not yet started; guest memory is not a
     * section and is saved by the caller.
     */
    public void saveState(StateSink sink) {
        sink.section(VmConfigSection.DESCRIPTION, 0, vm.config());
        for (MachinePart.Phase phase : MachinePart.Phase.SAVE) {
            for (MachinePart p : parts) {
                if (p.phase() == phase) {
                    p.save(sink);
                }
            }
        }
    }

    /**
     * Asks every part to finish its own I/O in flight and start none until the vCPUs resume ({@link Vm#resumeAll}): a
     * snapshot or migration takes the sections of a paused, quiesced machine, and requests the guest queued but no
     * device took stay queued in the saved state, to be done once, by whichever machine runs the guest on. A machine
     * closed without resuming never does them, so its disks hold what the snapshot saw.
     */
    public synchronized void quiesce() {
        if (!pauseHold) {
            pauseHold = true;
            hold();
        }
    }

    /**
     * Keeps the parts' I/O stopped (as {@link #quiesce} does) until {@link #releaseIo}, whether or not the vCPUs resume
     * meanwhile: a live snapshot that writes the disks' content lets the guest run and its disks wait.
     */
    public synchronized void holdIo() {
        hold();
    }

    public synchronized void releaseIo() {
        release();
    }

    private void vcpusResuming() {
        synchronized (this) {
            if (disksReleased) {
                try {
                    retakeDisks(); // never run a guest on a disk it does not hold
                } catch (IOException e) {
                    throw new IllegalStateException("not resuming: " + e.getMessage() + " (the guest's disks were handed over for a migration;"
                            + " another VMM may run it on them now)", e);
                }
            }
            if (pauseHold) {
                pauseHold = false;
                release();
            }
        }
    }

    // Loops, not method references: these run in pauses, where linking a lambda's call site for the first time in a
    // process is a cost the guest waits for.
    private void hold() {
        if (ioHolds++ == 0) {
            for (MachinePart p : parts) {
                p.quiesce();
            }
        }
    }

    private void release() {
        if (--ioHolds == 0) {
            for (MachinePart p : parts) {
                p.resume();
            }
        }
    }

    /**
     * Puts back every section {@link #saveState} wrote into this machine, which must have been created from
     * the same configuration and not started. Guest memory is restored by the caller. Every part reads and
     * checks its sections before any part writes (in {@link MachinePart.Phase#RESTORE} order). Returns notes the
     * user should see (a TSC that cannot keep its rate here), empty when there are none.
     *
     * <p>A section the source holds that this machine did not read is refused by name unless its writer marked
     * it optional: it is state of something this build lacks (a newer stasis, another device), and dropping it
     * would run a guest that is not the one saved.
     */
    public List<String> restoreState(StateSource from) {
        StateSource source = StateSource.decodedOnce(from); // the check below and the vCPU part both read vCPU 0's section
        Set<SectionRecords.Key> read = new HashSet<>();
        StateSource tracked = new StateSource() {
            @Override
            public <S> S section(dev.stasis.snapshot.state.StateDescription<S> description, int instance) {
                read.add(new SectionRecords.Key(description.name(), instance));
                return source.section(description, instance);
            }

            @Override
            public List<SectionRecords.Key> keys() {
                return source.keys();
            }

            @Override
            public boolean optional(SectionRecords.Key key) {
                return source.optional(key);
            }
        };
        VmConfig savedConfig = VmConfigSection.withSavedCpu(tracked.section(VmConfigSection.DESCRIPTION, 0),
                () -> tracked.section(VcpuState.DESCRIPTION, 0).cpuid());
        if (!savedConfig.equals(vm.config())) {
            throw new StateException("the state is of a different machine: saved " + describe(savedConfig) + ", this one " + describe(vm.config()));
        }
        List<MachinePart.Apply> steps = new ArrayList<>();
        for (MachinePart.Phase phase : MachinePart.Phase.RESTORE) {
            for (MachinePart p : parts) {
                if (p.phase() == phase) {
                    steps.add(p.prepare(tracked));
                }
            }
        }
        for (SectionRecords.Key key : source.keys()) {
            if (!read.contains(key) && !source.optional(key)) {
                throw new StateException("section " + key.name() + "#" + key.instance() + " holds state this build of stasis cannot restore"
                        + " (written by a newer stasis, or for a device or vCPU this machine lacks); refusing rather than dropping it");
            }
        }
        // Devices come back with their I/O held, as it was in the pause that saved them: requests the guest had queued
        // are done once the vCPUs run here (start or resume), not before, and never by a restore that fails after this.
        quiesce();
        List<String> notes = new ArrayList<>();
        for (MachinePart.Apply step : steps) {
            notes.addAll(step.apply());
        }
        return notes;
    }

    private static String describe(VmConfig c) {
        return c.vcpus() + " vCPUs, " + c.layout().totalSize() + " bytes of RAM " + c.layout().ranges() + ", CPU " + c.cpu().describe();
    }

    /** Starts the vCPUs, then the background fetch of RAM still arriving (which would otherwise compete with them for the CPUs). */
    public void start() {
        vcpusResuming();
        vm.start();
        RamFill fill = memory().fill();
        if (fill != null) {
            fill.guestStarted();
        }
        ReadyVms.replenish();
    }

    public VmExit awaitExit() throws InterruptedException {
        return vm.awaitExit();
    }

    @Override
    public void close() {
        vm.stopVcpus(); // no vCPU rings a doorbell or reads a disk once its part has let go of it
        parts.forEach(MachinePart::close);
        vm.close();
    }
}
