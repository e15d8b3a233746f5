package dev.stasis.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.commons.io.FileUtils;

/** A benchmark's working directory (guest images, snapshot files: hundreds of MiB), deleted when the JVM ends, however it ends. */
final class Scratch {
    private Scratch() {}

    static Path dir(String prefix) throws IOException {
        Path dir = Files.createTempDirectory(prefix);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> FileUtils.deleteQuietly(dir.toFile()), "bench-scratch-cleanup"));
        return dir;
    }
}
