package dev.stasis.checkpoint;

import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.machine.Machine;
import dev.stasis.memory.PointInTimeRam;
import dev.stasis.os.Niceness;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.snapshot.container.WriterWarmup;
import dev.stasis.uffd.Userfaultfd;
import dev.stasis.vm.Vm;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.LongConsumer;

/**
 * A live snapshot: the guest stands still only while its vCPU and device state is saved and its RAM is
 * write-protected, then runs on while its memory is written to the file. The file is the machine at the
 * instant of the pause, byte for byte, in the same format as a stopped snapshot (restore cannot tell them
 * apart).
 *
 * <pre>{@code
 * try (LiveSnapshot live = LiveSnapshot.take(machine)) {   // pauses, captures, resumes
 *     live.write(file, WriterOptions.defaults(), progress);  // the guest runs meanwhile
 * }
 * }</pre>
 *
 * A failed write (a full disk, an interrupted writer) leaves the guest running and un-protected and any
 * existing file untouched (the writer's temporary file is deleted). The pause is its caller's if the caller
 * holds one already (then {@link #take} does not resume, and {@link #paused} means nothing).
 */
public final class LiveSnapshot implements AutoCloseable {
    private final Checkpoint.MachineState state;
    private final PointInTimeRam ram;
    private final GuestMemoryRam view;
    private final Duration paused;
    private final Machine machine;
    private boolean written;
    /** The disks' I/O is held from the pause until their content is in the file (with disks only). */
    private boolean diskHold;

    private LiveSnapshot(Checkpoint.MachineState state, PointInTimeRam ram, GuestMemoryRam view, Duration paused, Machine machine, boolean diskHold) {
        this.state = state;
        this.ram = ram;
        this.view = view;
        this.paused = paused;
        this.machine = machine;
        this.diskHold = diskHold;
    }

    /** Null when live snapshots work here, else why not: what is missing and how to get it, one line. */
    public static String unavailabilityCause() {
        String cause = Userfaultfd.unavailabilityCause();
        return cause == null ? null : explain(cause);
    }

    /** The one line for a live snapshot that cannot be taken because of {@code cause}. */
    public static String explain(String cause) {
        return "a live snapshot needs userfaultfd in write-protect mode: " + cause;
    }

    /**
     * Prepares write-tracking while the guest runs, pauses every vCPU (unless already paused), saves every
     * section, write-protects RAM and resumes. Throws {@link dev.stasis.uffd.UffdUnavailableException} before
     * anything is paused when userfaultfd cannot be used.
     */
    public static LiveSnapshot take(Machine machine) {
        return take(machine, false);
    }

    /**
     * Loads and runs the capture path once on a scratch machine of {@code cpu}'s model (what the first {@link #take}
     * of a process otherwise does before its pause), then the memory writer on made-up RAM ({@link WriterWarmup});
     * for a VM that may be asked for a snapshot later. Never throws.
     */
    public static void warmUp(GuestCpu cpu) {
        CaptureWarmup.once(cpu);
        WriterWarmup.once(WriterOptions.defaults());
    }

    /**
     * {@link #take(Machine)}; {@code withDisks}: the file holds the disks' content too, so their I/O is held from the pause
     * until it is written (the guest runs on; its disk requests wait).
     */
    public static LiveSnapshot take(Machine machine, boolean withDisks) {
        CaptureWarmup.once(machine.vm().config().cpu());
        PointInTimeRam ram = PointInTimeRam.prepare(machine.memory());
        Vm vm = machine.vm();
        boolean held = vm.runControl().isPauseRequested(); // by the user, a migration, or the caller
        machine.preflushDisks();
        long t0 = System.nanoTime();
        vm.pauseAll();
        try {
            Checkpoint.MachineState state = Checkpoint.capture(machine, withDisks);
            ram.freeze();
            boolean diskHold = withDisks && !state.disks().isEmpty();
            if (diskHold) {
                machine.holdIo();
            }
            if (!held) {
                vm.resumeAll();
            }
            Duration paused = Duration.ofNanos(System.nanoTime() - t0);
            return new LiveSnapshot(state, ram, new GuestMemoryRam(machine.memory(), ram), paused, machine, diskHold);
        } catch (RuntimeException | Error e) {
            ram.close(); // un-protected before the guest resumes
            if (!held) {
                vm.resumeAll();
            }
            throw e;
        }
    }

    /** How long the vCPUs stood still: from the pause request to the resume. */
    public Duration paused() {
        return paused;
    }

    /**
     * Writes the file (atomically, as every snapshot) while the guest runs; at most once. Write-tracking ends
     * when this returns, whether it succeeded or not.
     */
    public WriteReport write(Path file, WriterOptions options, LongConsumer progress) throws IOException {
        if (written) {
            throw new IllegalStateException("a live snapshot is written once");
        }
        written = true;
        try {
            // The guest runs beside the compressors: they yield to its vCPUs and to the fault server those wait on.
            return Checkpoint.write(state, view, file, options.withWorkers(Niceness::backgroundThread), progress, this::releaseDisks);
        } finally {
            releaseDisks();
            ram.close();
        }
    }

    /** Faults the guest took on protected pages, and the copies they cost. */
    public PointInTimeRam.Stats stats() {
        return ram.stats();
    }

    /** Ends write-tracking if {@link #write} did not: the guest writes freely again. */
    @Override
    public void close() {
        releaseDisks();
        ram.close();
    }

    private synchronized void releaseDisks() {
        if (diskHold) {
            diskHold = false;
            machine.releaseIo();
        }
    }
}
