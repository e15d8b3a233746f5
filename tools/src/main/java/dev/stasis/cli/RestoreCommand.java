package dev.stasis.cli;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.forensics.CrashDump;
import dev.stasis.forensics.Progress;
import dev.stasis.machine.Machine;
import dev.stasis.vm.VmExit;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stasis restore}: starts a new VM from a snapshot file and runs it in the foreground. */
@Command(name = "restore", mixinStandardHelpOptions = true,
        description = {"Start the guest saved in FILE where it left off, its console joined to this terminal.",
                "--cpus and --mem, when given, must match the file (a guest cannot change them under its feet)."})
final class RestoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Option(names = "--api-socket", paramLabel = "PATH", description = "serve the control socket at PATH")
    Path apiSocket;

    @Option(names = "--cpus", paramLabel = "N", description = "refuse the file unless it holds N vCPUs")
    Integer cpus;

    @Option(names = "--mem", paramLabel = "SIZE", converter = SizeConverter.class, description = "refuse the file unless it holds SIZE of RAM")
    Long memory;

    @Mixin
    CrashDumpOptions crashDump = new CrashDumpOptions();

    @Mixin
    JailOptions jail = new JailOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        CrashDump dump = crashDump.dump();
        jail.enterIfAsked(spec, List.of(file.toString()));
        long start = System.nanoTime();
        Machine machine;
        try (Progress progress = Progress.start("restore", Progress.snapshotMemoryBytes(file))) {
            machine = Checkpoint.restore(file, new FileOutputStream(FileDescriptor.out), new Checkpoint.Expect(cpus, memory), progress);
        }
        System.err.printf("stasis: restored %s (%d vCPUs, %d MiB, CPU %s) in %.0f ms%n", file, machine.vm().config().vcpus(),
                machine.vm().config().layout().totalSize() >> 20, machine.vm().config().cpu().describe(), (System.nanoTime() - start) / 1e6);
        machine.notes().forEach(n -> System.err.println("stasis: warning: " + n));
        VmExit exit = ForegroundVm.run(machine, apiSocket, dump);
        if (exit.kind() == VmExit.Kind.RESET) {
            System.err.println("stasis: the restored guest asked for a reset; it has no boot image here to boot again");
        }
        ForegroundVm.report(exit);
        return exit.processStatus();
    }
}
