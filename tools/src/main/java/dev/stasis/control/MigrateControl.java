package dev.stasis.control;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationProgress;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.TlsCredentials;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.Protocol;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The control socket's {@code migrate} command: {@code {"command":"migrate","to":"HOST:PORT",
 * "psk_file":PATH | "tls_cert":PATH, "tls_key":PATH, "tls_ca":PATH, "tls_password":TEXT | "insecure":true, "downtime_ms":N, "max_time_s":N, "connections":N, "max_bandwidth":BYTES_PER_S,
 * "postcopy_after":N (-1 none, 0 at once), "recover_window_s":N}}.
 * Runs the whole migration before answering; on success the VM stops (as MIGRATED) right after the answer
 * is written, so the process exits with status 0. On a failure before COMMIT the guest keeps running; after it (the
 * destination may run the guest, or a post-copy could not finish) it stays paused; the error says which.
 */
public final class MigrateControl {
    private MigrateControl() {}

    /** The migration this VM runs now, if any: what migrate-status shows and migrate-cancel stops. */
    static final class Tracker {
        private volatile MigrationProgress current;

        ObjectNode status() {
            MigrationProgress p = current;
            if (p == null) {
                throw new IllegalStateException("no migration is running");
            }
            return describe(p.view());
        }

        ObjectNode cancel() {
            MigrationProgress p = current;
            if (p == null) {
                throw new IllegalStateException("no migration is running");
            }
            if (!p.cancel()) {
                throw new IllegalStateException("too late to cancel: COMMIT was sent, the destination may be running the guest");
            }
            return describe(p.view());
        }
    }

    static ObjectNode describe(MigrationProgress.View v) {
        ObjectNode o = ControlServer.json().createObjectNode();
        o.put("phase", v.phase());
        o.put("round", v.round());
        o.put("pages_sent", v.pagesSent());
        o.put("bytes_sent", v.bytesSent());
        o.put("bytes_per_s", Math.round(v.bytesPerSecond()));
        o.put("dirty_pages_per_s", Math.round(v.dirtyPagesPerSecond()));
        o.put("expected_downtime_ms", v.expectedDowntimeMs());
        o.put("elapsed_ms", v.elapsedMs());
        o.put("cancel_requested", v.cancelRequested());
        return o;
    }

    static final RequestSchema SCHEMA = RequestSchema.of(
            Field.string("to", true), Field.string("psk_file", false), Field.bool("insecure"), Field.bool("progress"),
            Field.string("tls_cert", false), Field.string("tls_key", false), Field.string("tls_ca", false), Field.string("tls_password", false),
            Field.integer("downtime_ms", 0, 3_600_000), Field.integer("max_time_s", 1, 86_400),
            Field.integer("connections", 1, Protocol.MAX_CONNECTIONS), Field.integer("max_bandwidth", 0, Long.MAX_VALUE),
            Field.integer("postcopy_after", -1, 1_000_000), Field.integer("recover_window_s", 0, 86_400), Field.bool("copy_disks"));

    static ObjectNode migrate(Machine machine, Request request, Tracker tracker) {
        InetSocketAddress to = address(request.string("to", ""));
        boolean insecure = request.bool("insecure", false);
        boolean tls = request.has("tls_cert");
        if ((request.has("psk_file") ? 1 : 0) + (insecure ? 1 : 0) + (tls ? 1 : 0) != 1) {
            throw new IllegalArgumentException("migrate needs exactly one of \"psk_file\", \"tls_cert\" (with \"tls_ca\") and \"insecure\": true");
        }
        if (tls != request.has("tls_ca")) {
            throw new IllegalArgumentException("\"tls_cert\" and \"tls_ca\" go together");
        }
        if (!tls && (request.has("tls_key") || request.has("tls_password"))) {
            throw new IllegalArgumentException("\"tls_key\" and \"tls_password\" apply only with \"tls_cert\"");
        }
        Auth auth = insecure ? new Auth.Insecure()
                : tls ? TlsCredentials.load(Path.of(request.string("tls_cert", null)), request.has("tls_key") ? Path.of(request.string("tls_key", null)) : null,
                        Path.of(request.string("tls_ca", null)), request.string("tls_password", "").toCharArray())
                : Auth.Psk.fromFile(Path.of(request.string("psk_file", null)));
        MigrationSender.Options options = new MigrationSender.Options(auth,
                Duration.ofMillis(request.integer("downtime_ms", 300)),
                Duration.ofSeconds(request.integer("max_time_s", 120)),
                (int) request.integer("connections", 1),
                request.integer("max_bandwidth", 0),
                FaultHook.NONE,
                (int) request.integer("postcopy_after", -1),
                Duration.ofSeconds(request.integer("recover_window_s", MigrationSender.DEFAULT_RECOVER_WINDOW.toSeconds())),
                request.bool("copy_disks", false));
        var client = request.bool("progress", false) ? ControlServer.progressSink() : null;
        MigrationProgress progress = new MigrationProgress();
        tracker.current = progress;
        MigrationSender.Result r;
        try {
            r = MigrationSender.migrateAndHold(machine, to, options, progress, line -> {
                System.err.println("stasis: migrate: " + line);
                if (client != null) { // the client shows the rounds as they go, on its terminal
                    client.accept(ControlServer.json().createObjectNode().put("message", line));
                }
            });
        } finally {
            tracker.current = null;
        }
        ControlServer.afterReply(() -> machine.vm().stop(MigrationSender.migrated(r)));
        ObjectNode result = ControlServer.json().createObjectNode();
        result.put("destination", r.destination());
        result.put("rounds", r.rounds());
        result.put("pages", r.pages());
        result.put("zero_pages", r.zeroPages());
        result.put("bytes", r.bytes());
        result.put("total_ms", r.total().toNanos() / 1e6);
        result.put("downtime_ms", r.downtime().toNanos() / 1e6);
        result.put("max_throttle", r.maxThrottle());
        if (r.postcopyPages() >= 0) {
            result.put("postcopy_pages", r.postcopyPages());
            result.put("postcopy_requests", r.postcopyRequests());
            result.put("recoveries", r.recoveries());
        }
        return result;
    }

    /** {@code HOST:PORT}, {@code [v6]:PORT}. */
    public static InetSocketAddress address(String text) {
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("'" + text + "' is not HOST:PORT");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            port = -1;
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("'" + text + "': the port must be 0..65535");
        }
        return new InetSocketAddress(host, port);
    }
}
