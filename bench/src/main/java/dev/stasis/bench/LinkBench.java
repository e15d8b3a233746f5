package dev.stasis.bench;

import dev.stasis.fixtures.Guests;
import dev.stasis.fixtures.TestCertificates;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationReceiver;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.TlsCredentials;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Migration link throughput: the same guest (1 GiB, the snapshot benchmark's 256 MiB region at 256 MiB, 76 MiB on the
 * wire) migrated over loopback in this JVM with each way of authenticating (plaintext, PSK with per-frame HMACs, TLS
 * 1.3 with certificates both ways) and 1, 2 and 4 connections; each cell is the median of {@code --rounds} hops
 * after one warm-up hop. Throughput is the bytes on the wire over the whole migration. Certificates come from openssl.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.LinkBench [--rounds 3]}
 */
public final class LinkBench {
    private LinkBench() {}

    public static void main(String[] args) throws Exception {
        int rounds = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--rounds N)");
            }
        }
        Path dir = Scratch.dir("stasis-linkbench");
        TestCertificates pki = TestCertificates.create(dir);
        List<String> names = List.of("plaintext (--insecure)", "PSK, per-frame HMAC-SHA256", "TLS 1.3, certificates both ways");
        List<Auth[]> auths = List.of(
                new Auth[] {new Auth.Insecure(), new Auth.Insecure()},
                new Auth[] {psk(), psk()},
                new Auth[] {TlsCredentials.load(pki.cert("source"), pki.key("source"), pki.cert("ca")),
                        TlsCredentials.load(pki.cert("destination"), pki.key("destination"), pki.cert("ca"))});
        int[] connections = {1, 2, 4};
        Path region = Files.createTempFile(dir, "region", ".img");
        SnapshotBench.writeRegion(region, false);
        Machine m = Machine.create(VmConfig.of(1L << 30, 1), OutputStream.nullOutputStream());
        m.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
        m.loadFile(region, SnapshotBench.REGION_GPA);
        m.start();
        m = hop(m, auths.get(0), 1); // warm-up: the JIT, both ends
        System.out.printf("%nmigration throughput over loopback, MiB/s on the wire (median of %d hops; host copy bandwidth %.1f GiB/s)%n",
                rounds, SnapshotBench.memoryBandwidthGiBs());
        System.out.println("| link | 1 connection | 2 connections | 4 connections |\n|---|---:|---:|---:|");
        for (int a = 0; a < auths.size(); a++) {
            StringBuilder row = new StringBuilder("| " + names.get(a) + " |");
            for (int c : connections) {
                List<Double> rates = new ArrayList<>();
                for (int r = 0; r < rounds; r++) {
                    long t0 = System.nanoTime();
                    Result res = hopMeasured(m, auths.get(a), c);
                    m = res.machine();
                    rates.add(res.bytes() / 1048576.0 / ((System.nanoTime() - t0) / 1e9));
                }
                row.append(String.format(" %.0f |", Stats.median(rates)));
            }
            System.out.println(row);
        }
        m.close();
    }

    private static Auth psk() {
        return new Auth.Psk("stasis-bench-pre-shared-key".getBytes(StandardCharsets.UTF_8));
    }

    private record Result(Machine machine, long bytes) {}

    private static Machine hop(Machine m, Auth[] auth, int connections) throws Exception {
        return hopMeasured(m, auth, connections).machine();
    }

    /** Migrates {@code m} to a new machine in this JVM ({@code auth}: source, destination); closes the old one. */
    private static Result hopMeasured(Machine m, Auth[] auth, int connections) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Machine> incoming = CompletableFuture.supplyAsync(
                    () -> MigrationReceiver.receive(server, OutputStream.nullOutputStream(), MigrationReceiver.Options.of(auth[1]), l -> { }));
            MigrationSender.Result r = MigrationSender.migrate(m, new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()),
                    MigrationSender.Options.of(auth[0]).withConnections(connections).withLimits(Duration.ofMillis(50), Duration.ofSeconds(120), 0), l -> { });
            Machine b = incoming.get(60, TimeUnit.SECONDS);
            m.close();
            return new Result(b, r.bytes());
        }
    }
}
