package dev.stasis.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.control.ControlClient;
import dev.stasis.control.ControlServer;
import dev.stasis.control.MigrateControl;
import dev.stasis.forensics.CrashDump;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationReceiver;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.TlsCredentials;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.vm.VmExit;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code stasis migrate send|receive}: live migration of a running VM to another stasis over TCP. */
@Command(name = "migrate", mixinStandardHelpOptions = true,
        description = {"Move a running VM to another host while it runs (pre-copy over TCP).",
                "Start 'migrate receive' on the destination, then 'migrate send' against the running VM's control socket."},
        subcommands = {MigrateCommand.Send.class, MigrateCommand.Receive.class, MigrateCommand.Status.class, MigrateCommand.Cancel.class})
final class MigrateCommand {
    /** Exactly one way to authenticate; both sides must choose the same. */
    static final class AuthOptions {
        @Option(names = "--psk-file", paramLabel = "FILE", required = true,
                description = "pre-shared key (mode 0600, at least 16 bytes); both sides prove they hold it (HMAC-SHA256)")
        Path pskFile;

        @Option(names = "--insecure", required = true, description = "no authentication, plaintext (trusted networks only)")
        boolean insecure;

        @ArgGroup(exclusive = false)
        TlsOptions tls;

        /** This side's authentication, loaded here (a destination) or named to the VM (a source). */
        Auth load() {
            if (pskFile != null) {
                return Auth.Psk.fromFile(pskFile);
            }
            if (tls != null) {
                return TlsCredentials.load(tls.cert, tls.key, tls.ca);
            }
            return new Auth.Insecure();
        }
    }

    /** TLS 1.3 with certificates both ways, on every connection. */
    static final class TlsOptions {
        @Option(names = "--tls-cert", required = true, paramLabel = "FILE",
                description = "this side's certificate (PEM, with its chain), or a PKCS#12 bundle with its key (password: STASIS_TLS_PASSWORD)")
        Path cert;

        @Option(names = "--tls-key", paramLabel = "FILE", description = "its private key (PEM PKCS#8, unencrypted, mode 0600); not with PKCS#12")
        Path key;

        @Option(names = "--tls-ca", required = true, paramLabel = "FILE", description = "the CA certificates (PEM) the peer's certificate must chain to")
        Path ca;
    }

    @Command(name = "send", mixinStandardHelpOptions = true,
            description = {"Ask the VM at --api-socket to migrate itself to a waiting 'stasis migrate receive'.",
                    "On success that VM's process exits with status 0; on any failure the guest keeps running there."})
    static final class Send implements Callable<Integer> {
        @Option(names = "--api-socket", required = true, paramLabel = "PATH", description = "the running VM's control socket")
        Path apiSocket;

        @Option(names = "--to", required = true, paramLabel = "HOST:PORT", description = "where 'migrate receive' listens")
        String to;

        @ArgGroup(exclusive = true, multiplicity = "1")
        AuthOptions auth;

        @Option(names = "--downtime-ms", paramLabel = "N", defaultValue = "300", description = "longest pause to aim for (default ${DEFAULT-VALUE})")
        long downtimeMs;

        @Option(names = "--max-time", paramLabel = "S", defaultValue = "120",
                description = "give up, leaving the guest running here, when not done in S seconds (default ${DEFAULT-VALUE})")
        long maxTime;

        @Option(names = "--connections", paramLabel = "N", defaultValue = "1", description = "TCP connections for page data, 1..16 (default ${DEFAULT-VALUE})")
        int connections;

        @Option(names = "--max-bandwidth", paramLabel = "SIZE", converter = SizeConverter.class, defaultValue = "0",
                description = "page data per second, e.g. 100M (default: unlimited); bounds post-copy's background stream too, never its urgent pages")
        long maxBandwidth;

        @Option(names = "--postcopy", description = {"post-copy at once: the guest starts at the destination right away and its pages follow,",
                "those it touches first on request. Until every page is across, the guest's memory is split between the hosts:",
                "if this source dies meanwhile, the guest is lost"})
        boolean postcopy;

        @Option(names = "--postcopy-after", paramLabel = "N", defaultValue = "-1",
                description = "pre-copy for at most N rounds, then post-copy (also when pre-copy has not converged by --max-time)")
        int postcopyAfter;

        @Option(names = "--recover-window", paramLabel = "S", defaultValue = "120",
                description = "during post-copy, keep reconnecting to a destination whose link broke for S seconds (default ${DEFAULT-VALUE})")
        long recoverWindow;

        @Option(names = "--copy-disks", description = {"send the disks' blocks with the memory, to new files at the destination",
                "(default: the disks are on storage both hosts share, at the same path, and change hands in the pause)"})
        boolean copyDisks;

        @Override
        public Integer call() throws Exception {
            MigrateControl.address(to); // a bad address is a usage error here, not in the VM
            if (postcopy && postcopyAfter >= 0) {
                throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--postcopy and --postcopy-after: give one");
            }
            int after = postcopy ? 0 : postcopyAfter;
            ObjectNode request = ControlClient.request("migrate").put("to", to).put("downtime_ms", downtimeMs)
                    .put("max_time_s", maxTime).put("connections", connections).put("max_bandwidth", maxBandwidth);
            if (copyDisks) {
                request.put("copy_disks", true);
            }
            if (after >= 0) {
                request.put("postcopy_after", after).put("recover_window_s", recoverWindow);
                System.err.println("stasis: warning: post-copy: from the hand-over on, the guest's memory is split between the two hosts until every"
                        + " page is across; if this source dies before then, the guest is lost (a broken link is recovered within " + recoverWindow + " s)");
            }
            if (auth.pskFile != null) {
                request.put("psk_file", auth.pskFile.toAbsolutePath().toString());
            } else if (auth.tls != null) {
                request.put("tls_cert", auth.tls.cert.toAbsolutePath().toString()).put("tls_ca", auth.tls.ca.toAbsolutePath().toString());
                if (auth.tls.key != null) {
                    request.put("tls_key", auth.tls.key.toAbsolutePath().toString());
                }
                String password = System.getenv("STASIS_TLS_PASSWORD");
                if (password != null) {
                    request.put("tls_password", password); // over the control socket: this user's alone
                }
            } else {
                request.put("insecure", true);
            }
            JsonNode r;
            try {
                if (dev.stasis.forensics.Progress.wanted()) {
                    request.put("progress", true);
                    r = ControlClient.call(apiSocket, request, event -> System.err.println("stasis: migrate: " + event.path("message").asText()));
                } else {
                    r = ControlClient.call(apiSocket, request);
                }
            } catch (java.io.IOException e) {
                System.err.println("stasis: error: migration failed: " + OneLine.of(e));
                return 1;
            }
            long postcopyPages = r.path("postcopy_pages").asLong(-1);
            System.out.printf("migrated to %s: %d rounds, %d pages (%d zero), %d bytes, total %.1f ms, downtime %.1f ms%s%s%n",
                    r.path("destination").asText(), r.path("rounds").asInt(), r.path("pages").asLong(), r.path("zero_pages").asLong(),
                    r.path("bytes").asLong(), r.path("total_ms").asDouble(), r.path("downtime_ms").asDouble(),
                    r.path("max_throttle").asInt() > 0 ? ", vCPUs throttled up to " + r.path("max_throttle").asInt() + "%" : "",
                    postcopyPages >= 0 ? String.format(", post-copy %d pages (%d on request, %d recoveries)", postcopyPages,
                            r.path("postcopy_requests").asLong(), r.path("recoveries").asInt()) : "");
            return 0;
        }
    }

    @Command(name = "receive", mixinStandardHelpOptions = true,
            description = {"Wait on HOST:PORT for one VM migrated by 'stasis migrate send', then run it in the foreground",
                    "(like 'stasis restore'). Exits 1, having freed everything, if the migration fails."})
    static final class Receive implements Callable<Integer> {
        @Option(names = "--listen", required = true, paramLabel = "HOST:PORT", description = "address to listen on")
        String listen;

        @Option(names = "--api-socket", paramLabel = "PATH", description = "serve the control socket of the received VM at PATH")
        Path apiSocket;

        @ArgGroup(exclusive = true, multiplicity = "1")
        AuthOptions auth;

        @Option(names = "--disk", paramLabel = "ID=PATH", description = {"where this host has the guest's disk ID (repeatable; every disk needs one):",
                "on storage both hosts share, the image itself; sent with --copy-disks, where its copy goes (a new file)"})
        Map<String, Path> diskPaths = new LinkedHashMap<>();

        @Option(names = "--timeout", paramLabel = "S", defaultValue = "0", description = "give up when no source connects and authenticates in S seconds (default: wait forever)")
        long timeout;

        @Option(names = "--recover-window", paramLabel = "S", defaultValue = "120",
                description = "during post-copy, wait S seconds for a source whose link broke to reconnect; then the guest is lost (default ${DEFAULT-VALUE})")
        long recoverWindow;

        @Override
        public Integer call() throws Exception {
            InetSocketAddress address = MigrateControl.address(listen);
            Auth a = auth.load();
            Machine machine;
            // Bound before anything moves: a bad socket path must fail here, not after the source has handed over.
            ControlServer control = apiSocket == null ? null : ControlServer.bind(apiSocket);
            ServerSocket server = new ServerSocket();
            try {
                server.setReuseAddress(true);
                server.bind(address);
                // Said once this end is ready to take a guest fast (its restore path warmed); it listens already.
                String waiting = "stasis: waiting for a migration on " + server.getLocalSocketAddress();
                try {
                    machine = MigrationReceiver.receive(server, new FileOutputStream(FileDescriptor.out),
                            new MigrationReceiver.Options(a, Duration.ofSeconds(timeout), FaultHook.NONE).withRecoverWindow(Duration.ofSeconds(recoverWindow))
                                    .withLinkDone(() -> closeQuietly(server)).withReady(() -> System.err.println(waiting))
                                    .withDiskPaths(absolute(diskPaths)),
                            line -> System.err.println("stasis: migrate: " + line));
                } catch (dev.stasis.migrate.MigrationException e) {
                    server.close();
                    if (control != null) {
                        control.close();
                    }
                    System.err.println("stasis: error: migration failed: " + e.getMessage());
                    return 1;
                }
            } catch (java.io.IOException | RuntimeException e) {
                server.close();
                if (control != null) {
                    control.close();
                }
                throw e;
            }
            // After a post-copy the socket stays open (unanswered) until the session's link is over: a source whose link
            // broke comes back on it, to bring the rest or to hear that all is here (withLinkDone above closes it).
            try {
                VmExit exit = ForegroundVm.run(machine, control, CrashDump.DISABLED, true);
                ForegroundVm.report(exit);
                return exit.processStatus();
            } finally {
                server.close();
            }
        }
    }

    private static Map<String, Path> absolute(Map<String, Path> paths) {
        Map<String, Path> out = new LinkedHashMap<>();
        paths.forEach((id, p) -> out.put(id, p.toAbsolutePath()));
        return out;
    }

    private static void closeQuietly(ServerSocket server) {
        try {
            server.close();
        } catch (java.io.IOException ignored) {
            // Nothing listens any more either way.
        }
    }

    /** One control-socket request about the VM's running migration; its answer is printed as one line. */
    abstract static class ProgressRequest implements Callable<Integer> {
        @Option(names = "--api-socket", required = true, paramLabel = "PATH", description = "the migrating VM's control socket")
        Path apiSocket;

        private final String command;
        private final String prefix;

        ProgressRequest(String command, String prefix) {
            this.command = command;
            this.prefix = prefix;
        }

        @Override
        public Integer call() throws Exception {
            System.out.println(prefix + describe(ControlClient.call(apiSocket, ControlClient.request(command))));
            return 0;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Show the migration the VM at --api-socket is running: phase, round, bytes, rate, dirty rate, expected downtime.")
    static final class Status extends ProgressRequest {
        Status() {
            super("migrate-status", "");
        }
    }

    @Command(name = "cancel", mixinStandardHelpOptions = true,
            description = {"Stop the migration the VM at --api-socket is running; the guest runs on there.",
                    "Refused once COMMIT was sent (the destination may be running the guest)."})
    static final class Cancel extends ProgressRequest {
        Cancel() {
            super("migrate-cancel", "cancelling: ");
        }
    }

    static String describe(JsonNode r) {
        return String.format("%s, round %d, %d pages and %d bytes sent, %.1f MiB/s, %d pages dirtied/s, pause would be ~%.1f ms, %.1f s so far",
                r.path("phase").asText(), r.path("round").asInt(), r.path("pages_sent").asLong(), r.path("bytes_sent").asLong(),
                r.path("bytes_per_s").asDouble() / 1048576.0, r.path("dirty_pages_per_s").asLong(), r.path("expected_downtime_ms").asDouble(),
                r.path("elapsed_ms").asLong() / 1000.0);
    }
}
