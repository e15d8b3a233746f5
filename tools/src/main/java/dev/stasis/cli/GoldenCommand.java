package dev.stasis.cli;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.golden.GoldenRecipe;
import dev.stasis.golden.ReadyLine;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmExit;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code stasis golden build|check}: a guest booted once until it says it is ready, kept as a snapshot whose
 * manifest says how it was built, for test suites to restore again and again; and whether one is still current.
 */
@Command(name = "golden", mixinStandardHelpOptions = true, description = "Golden images: guests booted once to a ready state, restored by test suites",
        subcommands = {GoldenCommand.Build.class, GoldenCommand.Check.class})
final class GoldenCommand {
    @Command(name = "build", mixinStandardHelpOptions = true,
            description = {"Boot a guest as 'stasis run' would (the arguments after --), and once a console line matches --ready,",
                    "snapshot it to --out, its build recipe (the arguments, the pattern, the SHA-256 of every input) in the manifest.",
                    "Exit 0 once written; 1 when the guest stopped or the time ran out first (nothing is written); 2 for unusable input."})
    static final class Build implements Callable<Integer> {
        @Option(names = "--out", required = true, paramLabel = "FILE", description = "the golden image to write (atomically)")
        Path out;

        @Option(names = "--ready", required = true, paramLabel = "REGEX", description = "a console line matching this (Java regex, found anywhere in the line) means ready")
        String ready;

        @Option(names = "--timeout", paramLabel = "S", defaultValue = "120", description = "give up when not ready within S seconds (default ${DEFAULT-VALUE})")
        long timeout;

        @Parameters(paramLabel = "RUN-ARGUMENTS", arity = "1..*", description = "what 'stasis run' takes: GUEST|FILE [KEY=VALUE...] [--mem ...] ...")
        List<String> run = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            Pattern pattern;
            try {
                pattern = Pattern.compile(ready);
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("--ready: not a regular expression: " + e.getDescription());
            }
            RunCommand guest = new RunCommand();
            CommandLine parsed = new CommandLine(guest);
            try {
                parsed.parseArgs(run.toArray(String[]::new));
            } catch (CommandLine.ParameterException e) {
                throw new IllegalArgumentException("the run arguments: " + e.getMessage());
            }
            if (guest.apiSocket != null || guest.jail.dir != null) {
                throw new IllegalArgumentException("the run arguments: --api-socket and --jail do not apply to a golden build");
            }
            RunCommand.Plan plan = guest.plan();
            GoldenRecipe recipe = GoldenRecipe.of(run, ready, guest.inputFiles());
            ReadyLine console = new ReadyLine(pattern, new FileOutputStream(FileDescriptor.out));
            long t0 = System.nanoTime();
            try (Machine machine = plan.boot(console)) {
                machine.start();
                String line = null;
                long deadline = t0 + timeout * 1_000_000_000L;
                while (line == null && !machine.vm().isStopped() && System.nanoTime() < deadline) {
                    line = console.await(50);
                }
                if (line == null) {
                    if (machine.vm().isStopped()) {
                        VmExit exit = machine.vm().awaitExit(1000);
                        System.err.println("stasis: error: the guest stopped before a console line matched --ready '" + ready + "': "
                                + (exit == null ? "stopped" : exit.description()) + "; no golden image written");
                    } else {
                        System.err.println("stasis: error: no console line matched --ready '" + ready + "' within " + timeout + " s; no golden image written");
                    }
                    return 1;
                }
                machine.vm().pauseAll();
                long readyMs = (System.nanoTime() - t0) / 1_000_000;
                var report = Checkpoint.save(machine, out, WriterOptions.defaults(), Map.of(GoldenRecipe.PROPERTY, recipe.toJson()));
                System.err.printf("stasis: golden image %s: ready after %d ms (\"%s\"), %d inputs recorded, %d bytes%n",
                        out, readyMs, line, recipe.inputs().size(), report.bytes());
                return 0;
            }
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Say whether a golden image is current: every input it was built from still has the SHA-256 it had.",
                    "Exit 0 current, 1 stale (each changed or vanished input named), 2 not a golden image or unreadable.",
                    "Whether this host can run its CPU is 'stasis cpu check'."})
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() throws Exception {
            String json;
            try (SnapshotReader r = SnapshotReader.open(file)) {
                json = r.manifest().properties().get(GoldenRecipe.PROPERTY);
            } catch (SnapshotFormatException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage());
            }
            if (json == null) {
                throw new IllegalArgumentException(file + " is not a golden image: its manifest has no build recipe ('stasis golden build' writes one)");
            }
            GoldenRecipe recipe;
            try {
                recipe = GoldenRecipe.fromJson(json);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(file + ": " + e.getMessage());
            }
            List<String> changes = recipe.changes();
            if (changes.isEmpty()) {
                System.out.println(file + ": current (" + recipe.inputs().size() + " inputs as built: stasis run " + String.join(" ", recipe.runArguments()) + ")");
                return 0;
            }
            System.out.println(file + ": stale: " + String.join("; ", changes));
            return 1;
        }
    }
}
