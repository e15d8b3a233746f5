package dev.stasis.snapshot.container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/** The host a snapshot was taken on: enough to explain a restore that behaves differently elsewhere. */
public record HostIdentity(String hostname, String kernelRelease, String cpuVendor, String cpuModel) {
    public HostIdentity {
        Objects.requireNonNull(hostname, "hostname");
        Objects.requireNonNull(kernelRelease, "kernelRelease");
        Objects.requireNonNull(cpuVendor, "cpuVendor");
        Objects.requireNonNull(cpuModel, "cpuModel");
    }

    /** This host, from /proc (Linux); "unknown" for whatever cannot be read. */
    public static HostIdentity current() {
        List<String> cpuinfo = lines(Path.of("/proc/cpuinfo"));
        return new HostIdentity(
                first(Path.of("/proc/sys/kernel/hostname"), System.getenv().getOrDefault("HOSTNAME", "unknown")),
                first(Path.of("/proc/sys/kernel/osrelease"), System.getProperty("os.version", "unknown")),
                cpuinfoValue(cpuinfo, "vendor_id"),
                cpuinfoValue(cpuinfo, "model name"));
    }

    private static String first(Path p, String fallback) {
        return lines(p).stream().findFirst().map(String::strip).orElse(fallback);
    }

    private static String cpuinfoValue(List<String> cpuinfo, String key) {
        for (String line : cpuinfo) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).strip().equals(key)) {
                return line.substring(colon + 1).strip();
            }
        }
        return "unknown";
    }

    private static List<String> lines(Path p) {
        try {
            return Files.readAllLines(p);
        } catch (IOException | RuntimeException e) {
            return List.of();
        }
    }
}
