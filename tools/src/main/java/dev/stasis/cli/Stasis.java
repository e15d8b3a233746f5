package dev.stasis.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code stasis}: the command line of the VMM. Errors are one line on stderr and a non-zero status. */
@Command(name = "stasis", mixinStandardHelpOptions = true, version = "stasis 0.1.0",
        description = "A KVM virtual machine monitor built for moving guest state.")
public final class Stasis {
    /**
     * The subcommands, in the order help lists them. Only the one a command line names is built: picocli reads
     * each command's annotations when it is added (~100 ms for all of them in a fresh JVM, and picocli's classes,
     * compiled for Java 5, cannot be in the CDS archive).
     */
    private static final Map<String, Class<?>> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("run", RunCommand.class);
        COMMANDS.put("snapshot", SnapshotCommand.class);
        COMMANDS.put("restore", RestoreCommand.class);
        COMMANDS.put("demo", DemoCommand.class);
        COMMANDS.put("inspect", InspectCommand.class);
        COMMANDS.put("verify", VerifyCommand.class);
        COMMANDS.put("cpu", CpuCommand.class);
        COMMANDS.put("core", CoreCommand.class);
        COMMANDS.put("mem", MemCommand.class);
        COMMANDS.put("diff", DiffCommand.class);
        COMMANDS.put("migrate", MigrateCommand.class);
        COMMANDS.put("golden", GoldenCommand.class);
        COMMANDS.put("help", CommandLine.HelpCommand.class);
    }

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
        System.exit(commandLine(args).execute(args));
    }

    /** The command line for {@code args}: with only the subcommand they name, or all of them (help, a typo). */
    static CommandLine commandLine(String... args) {
        CommandLine cli = new CommandLine(new Stasis());
        String named = args.length > 0 && !args[0].equals("help") ? args[0] : null;
        if (named != null && COMMANDS.containsKey(named)) {
            cli.addSubcommand(named, COMMANDS.get(named));
        } else {
            COMMANDS.forEach(cli::addSubcommand);
        }
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            line.getErr().println("stasis: error: " + OneLine.of(e));
            if (DEBUG) {
                e.printStackTrace(line.getErr());
            }
            return isInputProblem(e) ? USAGE_ERROR : INTERNAL_ERROR;
        });
        cli.setParameterExceptionHandler((e, given) -> {
            e.getCommandLine().getErr().println("stasis: error: " + e.getMessage());
            e.getCommandLine().getErr().println("(see 'stasis " + e.getCommandLine().getCommandName() + " --help')");
            return USAGE_ERROR;
        });
        return cli;
    }
}
