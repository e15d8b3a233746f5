package dev.stasis.cli;

import dev.stasis.control.ControlServer;
import dev.stasis.control.VmControl;
import dev.stasis.forensics.CrashDump;
import dev.stasis.machine.Machine;
import dev.stasis.vm.VmExit;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Runs a built machine in the foreground: console input from stdin, the control socket if asked for,
 * Ctrl-C as a clean stop; returns how the VM ended. Closes the machine.
 */
final class ForegroundVm {
    private ForegroundVm() {}

    static VmExit run(Machine machine, Path apiSocket) throws Exception {
        return run(machine, apiSocket, CrashDump.DISABLED);
    }

    /** {@link #run}, writing {@code crashDump} if the guest crashes, before the machine is closed. */
    static VmExit run(Machine machine, Path apiSocket, CrashDump crashDump) throws Exception {
        return run(machine, apiSocket, crashDump, false);
    }

    /** As above, for a machine whose vCPUs {@code started} already (a migrated-in guest). */
    static VmExit run(Machine machine, Path apiSocket, CrashDump crashDump, boolean started) throws Exception {
        ControlServer control;
        try {
            control = apiSocket == null ? null : ControlServer.bind(apiSocket);
        } catch (Exception e) {
            machine.close();
            throw e;
        }
        return run(machine, control, crashDump, started);
    }

    /**
     * Runs {@code machine} serving {@code control} (bound already, or null). The control socket is closed, and
     * any command still using the machine finished, before the machine's memory is unmapped: a snapshot or
     * migration reading guest RAM would otherwise crash the process. A command that does not finish in time
     * leaves the machine mapped for the process's exit to free.
     */
    static VmExit run(Machine machine, ControlServer control, CrashDump crashDump, boolean started) throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        Thread onSignal = new Thread(() -> {
            machine.vm().stop(VmExit.hostStop("stopped by signal"));
            try {
                closed.await(3, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "stop-on-signal");
        try {
            if (control != null) {
                control.serve(VmControl.handlers(machine));
                VmControl.warmUp(machine);
            }
            Runtime.getRuntime().addShutdownHook(onSignal);
            machine.attachConsoleInput(System.in);
            if (!started) {
                machine.start();
            }
            VmExit exit = machine.awaitExit();
            crashDump.afterExit(machine, exit, System.err);
            if (exit.kind() != VmExit.Kind.HOST_STOP || !exit.description().equals("stopped by signal")) {
                Runtime.getRuntime().removeShutdownHook(onSignal);
            }
            return exit;
        } finally {
            boolean quiet = control == null || control.closeAndAwait(java.time.Duration.ofSeconds(10));
            if (quiet) {
                machine.close();
            } else {
                machine.vm().stop(VmExit.hostStop("closing"));
                System.err.println("stasis: a control command is still running; leaving the VM's memory to the process exit");
            }
            closed.countDown();
        }
    }

    /** Says how the VM ended on stderr when it was not the guest's own choice. */
    static void report(VmExit exit) {
        switch (exit.kind()) {
            case GUEST_EXIT, POWER_OFF -> { }
            case HOST_STOP, SAVED -> System.err.println("stasis: " + exit.description());
            case HOST_FAILURE -> {
                // The report is a Java stack trace: for bug reports, not for every user.
                System.err.println("stasis: " + exit.description());
                if (Stasis.DEBUG) {
                    System.err.println(exit.report());
                }
            }
            default -> {
                System.err.println("stasis: " + exit.description());
                if (!exit.report().isEmpty()) {
                    System.err.println(exit.report()); // the vCPU's registers at a guest crash
                }
            }
        }
    }
}
