package dev.stasis.forensics;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmExit;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/**
 * The forensic snapshot a VMM writes on its own when a guest crashes: a triple fault or shutdown exit, a KVM
 * internal error or failed entry, or a panic the guest reports on the pvpanic port (all
 * {@link VmExit.Kind#GUEST_FAILURE}). It is taken after the run ended and every vCPU has left KVM_RUN, but
 * before the machine is closed, so vCPUs, devices and RAM are exactly as the crash left them.
 *
 * @param path where to write; null for the default {@link #defaultPath()} chosen at crash time
 */
public record CrashDump(Path path, boolean enabled) {
    public static final CrashDump DISABLED = new CrashDump(null, false);

    /** {@code ./stasis-crash-<yyyyMMdd-HHmmss>-<pid>.snap}: unique per process and second, in the working directory. */
    public static Path defaultPath() {
        String time = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        return Path.of("stasis-crash-" + time + "-" + ProcessHandle.current().pid() + ".snap");
    }

    public static boolean isCrash(VmExit exit) {
        return exit.kind() == VmExit.Kind.GUEST_FAILURE;
    }

    /**
     * Writes the dump if {@code exit} is a crash and dumps are enabled; says where (or why not) on {@code err}.
     * Never throws: a failed dump must not hide the crash report. Returns the file written, or null.
     */
    public Path afterExit(Machine machine, VmExit exit, PrintStream err) {
        if (!enabled || !isCrash(exit)) {
            return null;
        }
        Path target = path != null ? path : defaultPath();
        try {
            // Vm.stop asked every vCPU to leave; wait until none is inside KVM_RUN before reading their state.
            if (!machine.vm().runControl().awaitAllLeft(5000)) {
                err.println("stasis: crash dump not written: the vCPUs did not stop within 5 s");
                return null;
            }
            WriteReport report;
            try (Progress progress = Progress.start("crash dump", machine.memory().size())) {
                report = Checkpoint.save(machine, target, WriterOptions.defaults(), progress);
            }
            err.println("stasis: guest crashed; forensic snapshot written to " + target.toAbsolutePath() + " (" + report.bytes() + " bytes)");
            return target;
        } catch (Exception e) {
            err.println("stasis: crash dump not written to " + target + ": " + e.getMessage());
            return null;
        }
    }
}
