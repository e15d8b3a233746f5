package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.protocol.FaultHook;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The control socket's {@code migrate} command: {@code {"command":"migrate","to":"HOST:PORT",
 * "psk_file":PATH | "insecure":true, "downtime_ms":N, "max_time_s":N, "connections":N, "max_bandwidth":BYTES_PER_S}}.
 * Runs the whole migration before answering; on success the VM stops (as MIGRATED) right after the answer
 * is written, so the process exits with status 0; on failure the guest keeps running and the error says why.
 */
public final class MigrateControl {
    private MigrateControl() {}

    static ObjectNode migrate(Machine machine, JsonNode request) {
        InetSocketAddress to = address(request.path("to").asText(""));
        Auth auth;
        if (request.hasNonNull("psk_file")) {
            auth = Auth.Psk.fromFile(Path.of(request.path("psk_file").asText()));
        } else if (request.path("insecure").asBoolean(false)) {
            auth = new Auth.Insecure();
        } else {
            throw new IllegalArgumentException("migrate needs \"psk_file\" or \"insecure\": true");
        }
        MigrationSender.Options options = new MigrationSender.Options(auth,
                Duration.ofMillis(request.path("downtime_ms").asLong(300)),
                Duration.ofSeconds(request.path("max_time_s").asLong(120)),
                request.path("connections").asInt(1),
                request.path("max_bandwidth").asLong(0),
                FaultHook.NONE);
        var client = request.path("progress").asBoolean(false) ? ControlServer.progressSink() : null;
        MigrationSender.Result r = MigrationSender.migrateAndHold(machine, to, options, line -> {
            System.err.println("stasis: migrate: " + line);
            if (client != null) { // the client shows the rounds as they go, on its terminal
                client.accept(ControlServer.json().createObjectNode().put("message", line));
            }
        });
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
