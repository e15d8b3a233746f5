package dev.stasis.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.control.ControlClient;
import dev.stasis.forensics.Progress;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code stasis snapshot}: asks a running VM to write itself to a file, then go on (or exit). Live by default
 * where the VM's host has userfaultfd: the guest pauses only to save its state and write-protect its RAM.
 */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
        description = {"Write a running VM's snapshot to FILE: the machine at one instant, while it runs on (live, the default),",
                "or paused for the whole write (--no-live); --exit writes it paused and stops the VM."})
final class SnapshotCommand implements Callable<Integer> {
    @Option(names = "--api-socket", required = true, paramLabel = "PATH", description = "the VM's control socket")
    Path apiSocket;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "the snapshot file to write (replaced atomically)")
    Path out;

    @Option(names = "--exit", description = "stop the VM once the snapshot is written")
    boolean exit;

    @Option(names = "--live", negatable = true, description = {"live (the default where userfaultfd works: the guest stops only for milliseconds);",
            "--live refuses where it cannot be live, --no-live pauses the guest for the whole write"})
    Boolean live;

    @Option(names = "--with-disks", description = {"put the disks' content in the file too (sparse, compressed, deduplicated, checksummed like memory),",
            "so it restores without the images; a live snapshot holds the disks' I/O (not the vCPUs) until their content is written"})
    boolean withDisks;

    @Option(names = "--level", paramLabel = "N", description = "zstd level for memory (default: the writer's)")
    Integer level;

    @Option(names = "--threads", paramLabel = "N", description = "compression threads (default: the writer's)")
    Integer threads;

    /** A guest with the host model restores only where the CPU matches; say so where the file is made. */
    private static void warnIfNotPortable(Path file) {
        try (var reader = dev.stasis.snapshot.container.SnapshotReader.open(file)) {
            String model = reader.manifest().properties().getOrDefault("cpu_model", "");
            if (model.contains("not portable")) {
                System.err.println("stasis: note: " + file + " holds a guest with CPU " + model
                        + "; it restores only on hosts that have every feature of this CPU ('stasis cpu check FILE' tells)");
            }
        } catch (java.io.IOException | RuntimeException e) {
            // the snapshot itself succeeded; this note is only advice
        }
    }

    @Override
    public Integer call() throws Exception {
        ObjectNode request = ControlClient.request("snapshot").put("path", out.toAbsolutePath().toString()).put("exit", exit);
        if (withDisks) {
            request.put("with_disks", true);
        }
        if (live != null) {
            request.put("live", live);
        }
        if (level != null) {
            request.put("level", level);
        }
        if (threads != null) {
            request.put("threads", threads);
        }
        JsonNode r;
        if (Progress.wanted()) {
            // The VM writes the file; it streams how far it got, drawn here as restore and core draw theirs.
            request.put("progress", true);
            Progress[] bar = new Progress[1];
            try {
                r = ControlClient.call(apiSocket, request, event -> {
                    if (bar[0] == null) {
                        bar[0] = Progress.start("snapshot", event.path("total").asLong());
                    }
                    bar[0].accept(event.path("done").asLong() - bar[0].done());
                });
            } finally {
                if (bar[0] != null) {
                    bar[0].close();
                }
            }
        } else {
            r = ControlClient.call(apiSocket, request);
        }
        if (r.hasNonNull("note")) {
            System.err.println("stasis: note: " + r.path("note").asText());
        }
        System.out.printf("snapshot %s: %d bytes (%d pages stored, %d zero), written in %.0f ms, paused %.1f ms%s%n", r.path("path").asText(),
                r.path("bytes").asLong(), r.path("stored_pages").asLong(), r.path("zero_pages").asLong(), r.path("total_ms").asDouble(),
                r.path("paused_ms").asDouble(), exit ? ", VM stopped" : r.path("live").asBoolean() ? ", live" : "");
        warnIfNotPortable(Path.of(r.path("path").asText()));
        return 0;
    }
}
