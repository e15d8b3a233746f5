package dev.stasis.cli;

import dev.stasis.snapshot.container.Problem;
import dev.stasis.snapshot.container.SnapshotReader;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code stasis verify}: checks every checksum and structure of a snapshot; {@code ok}, or each problem on a line. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = {"Check every checksum and every structure of a snapshot file, including decoding all sections and memory.",
                "Prints 'ok', or one line per problem naming the block, section or chunk and its offset (exit status 1)."})
final class VerifyCommand implements Callable<Integer> {
    /** Exit status when the file has problems. */
    static final int PROBLEMS = 1;

    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        List<Problem> problems = SnapshotReader.verify(file);
        PrintWriter out = spec.commandLine().getOut();
        if (problems.isEmpty()) {
            out.println("ok");
        }
        for (Problem p : problems) {
            out.println(p.message());
        }
        out.flush();
        return problems.isEmpty() ? 0 : PROBLEMS;
    }
}
