package dev.stasis.cli;

import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.inspect.SnapshotInspector;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code stasis inspect}: every section and field of a snapshot by name, from the file alone (its own
 * schemas, no device classes), plus manifest and memory summary.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Show a snapshot file: manifest, every section with every field by name, and a memory summary.",
                "Needs nothing but the file: each section carries its own schema."})
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Option(names = "--json", description = "print JSON instead of text")
    boolean json;

    @Option(names = "--full", description = "print byte and long arrays in full, not just their start")
    boolean full;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        try (SnapshotReader reader = SnapshotReader.open(file)) {
            SnapshotInspector inspector = new SnapshotInspector(reader, full);
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(inspector.jsonText());
            } else {
                out.print(inspector.text());
            }
            out.flush();
        }
        return 0;
    }
}
