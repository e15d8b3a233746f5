package dev.stasis.jail;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How the jailed JVM is started, taken from this one: the same class path, given the same way (a class-data-sharing
 * archive is accepted only for the class path it was made with), and this JVM's own {@code -X} options (heap, GC,
 * JIT, class-data sharing), never agents or {@code -D} properties, which can name host paths or change behaviour in
 * ways the jail cannot vouch for.
 *
 * @param options   the {@code -X} options
 * @param classPath {@code java.class.path} as this JVM got it, each entry made absolute (the jailed JVM starts in /)
 * @param files     what the jail must show at these paths: each class path entry and the CDS archive, as
 *                  (host real path, path as named) pairs
 */
record Jvm(List<String> options, String classPath, List<JailStep.Bind> files) {
    static Jvm current() throws IOException {
        List<JailStep.Bind> files = new ArrayList<>();
        List<String> classPath = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(":")) {
            add(files, entry);
            classPath.add(Path.of(entry).toAbsolutePath().normalize().toString());
        }
        List<String> options = new ArrayList<>();
        for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (option.startsWith("-X")) {
                options.add(option);
                if (option.startsWith("-XX:SharedArchiveFile=")) {
                    add(files, option.substring(option.indexOf('=') + 1));
                }
            }
        }
        return new Jvm(List.copyOf(options), String.join(":", classPath), List.copyOf(files));
    }

    private static void add(List<JailStep.Bind> files, String entry) throws IOException {
        Path p = Path.of(entry);
        if (!entry.isEmpty() && Files.exists(p)) {
            files.add(new JailStep.Bind(p.toRealPath(), p.toAbsolutePath().normalize()));
        }
    }
}
