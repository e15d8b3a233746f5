package dev.stasis.memory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What this host's kernel says about its memory. */
public final class HostMemory {
    private HostMemory() {}

    /** {@code MemAvailable} from /proc/meminfo, in bytes: what can be given out now without swapping. */
    public static long available() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemAvailable:")) {
                String[] f = line.trim().split("\\s+");
                try {
                    return Long.parseLong(f[1]) * 1024; // the kernel writes kB, meaning KiB
                } catch (RuntimeException e) {
                    throw new IOException("/proc/meminfo has a MemAvailable line that is not a number: " + line, e);
                }
            }
        }
        throw new IOException("/proc/meminfo has no MemAvailable line");
    }
}
