package dev.stasis.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code stasis}: the command line of the VMM. Errors are one line on stderr and a non-zero status. */
@Command(name = "stasis", mixinStandardHelpOptions = true, version = "stasis 0.1.0",
        description = "A KVM virtual machine monitor built for moving guest state.",
        subcommands = {RunCommand.class, SnapshotCommand.class, RestoreCommand.class, DemoCommand.class, InspectCommand.class,
                VerifyCommand.class, CpuCommand.class,
                CoreCommand.class, MemCommand.class, DiffCommand.class, MigrateCommand.class, CommandLine.HelpCommand.class})
public final class Stasis {
    /** Exit status for a command the user got wrong or input that is not usable. */
    public static final int USAGE_ERROR = 2;
    /** Exit status for a failure of stasis itself or of the host (a KVM call that failed, a bug). */
    public static final int INTERNAL_ERROR = 1;
    /** {@code STASIS_DEBUG=1} adds the Java stack trace to errors, for reporting bugs. */
    static final boolean DEBUG = "1".equals(System.getenv("STASIS_DEBUG"));

    /** Problems with what the user gave: files, sizes, images, snapshots, parameters, a host without KVM. */
    static boolean isInputProblem(Throwable e) {
        return e instanceof IllegalArgumentException || e instanceof java.io.IOException
                || e instanceof dev.stasis.snapshot.SnapshotFormatException || e instanceof dev.stasis.snapshot.state.StateException
                || e instanceof dev.stasis.kvm.KvmUnavailableException || e instanceof java.io.UncheckedIOException
                || e instanceof dev.stasis.forensics.ForensicsException;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }

    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Stasis());
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            line.getErr().println("stasis: error: " + OneLine.of(e));
            if (DEBUG) {
                e.printStackTrace(line.getErr());
            }
            return isInputProblem(e) ? USAGE_ERROR : INTERNAL_ERROR;
        });
        cli.setParameterExceptionHandler((e, args) -> {
            e.getCommandLine().getErr().println("stasis: error: " + e.getMessage());
            e.getCommandLine().getErr().println("(see 'stasis " + e.getCommandLine().getCommandName() + " --help')");
            return USAGE_ERROR;
        });
        return cli;
    }
}
