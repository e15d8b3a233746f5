package dev.stasis.cli;

import dev.stasis.forensics.CrashDump;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --crash-dump PATH} / {@code --no-crash-dump} of the commands that run a guest. */
final class CrashDumpOptions {
    @Option(names = "--crash-dump", paramLabel = "PATH",
            description = {"where to write a forensic snapshot if the guest crashes (triple fault, KVM internal error,",
                    "or a panic on the pvpanic port 0x505); default: ./stasis-crash-<yyyyMMdd-HHmmss>-<pid>.snap"})
    Path path;

    @Option(names = "--no-crash-dump", description = "write no snapshot when the guest crashes")
    boolean disabled;

    CrashDump dump() {
        if (disabled && path != null) {
            throw new IllegalArgumentException("--crash-dump and --no-crash-dump exclude each other");
        }
        return disabled ? CrashDump.DISABLED : new CrashDump(path, true);
    }
}
