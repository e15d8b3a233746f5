package dev.stasis.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;

/**
 * Runs a child as uid and gid 65534 (nobody), as an ordinary user would run stasis. Needs root to switch to it;
 * the child reads a copy of this test's class path, because root's Maven repository (0750) is not for others.
 */
final class Unprivileged {
    static final int ID = 65534;

    private Unprivileged() {}

    /** {@code setpriv} as uid/gid {@link #ID} with exactly the supplementary {@code groups} (none: cleared). */
    static List<String> as(int... groups) {
        List<String> prefix = new ArrayList<>(List.of("setpriv", "--reuid=" + ID, "--regid=" + ID));
        prefix.add(groups.length == 0 ? "--clear-groups"
                : "--groups=" + IntStream.of(groups).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        prefix.add("--");
        return prefix;
    }

    /** {@code prefix} followed by a JVM running {@code stasis args...} on {@code classPath}. */
    static List<String> command(List<String> prefix, String classPath, String... args) {
        List<String> command = new ArrayList<>(prefix);
        command.addAll(CliProcess.javaCommand(classPath, List.of(), args));
        return command;
    }

    /**
     * A copy of this JVM's class path under {@code dir} that everyone can read, for {@link #ID}'s JVM. The caller
     * makes {@code dir}'s parents passable (JUnit's temporary directories are 0700).
     */
    static String readableClassPath(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> entries = new ArrayList<>();
        int n = 0;
        for (String entry : System.getProperty("java.class.path").split(":")) {
            Path from = Path.of(entry);
            if (entry.isEmpty() || !Files.exists(from)) {
                continue;
            }
            Path to = dir.resolve((n++) + "-" + from.getFileName());
            try (Stream<Path> files = Files.walk(from)) {
                for (Path f : (Iterable<Path>) files::iterator) {
                    Path copy = to.resolve(from.relativize(f).toString());
                    Files.copy(f, copy, StandardCopyOption.COPY_ATTRIBUTES);
                    Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString(Files.isDirectory(copy) ? "rwxr-xr-x" : "rw-r--r--"));
                }
            }
            entries.add(to.toString());
        }
        return String.join(":", entries);
    }
}
