package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.fixtures.Guests;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Live migration as a user runs it: fresh processes over loopback, the same guest in stasis and in QEMU on the
 * same KVM, in one run. The guest is the Multiboot test kernel (both boot it: stasis's loader and QEMU's
 * {@code -kernel}) with {@code --mem} of RAM, counting on one vCPU; it is migrated once it has counted to 2.
 *
 * <ul>
 *   <li>stasis: {@code stasis run KERNEL --api-socket}, {@code stasis migrate receive}, {@code stasis migrate send}
 *       (no authentication, like QEMU's tcp: migration); its own report gives total and downtime;</li>
 *   <li>QEMU: a source and an {@code -incoming tcp:} destination with {@code -accel kvm}, driven over QMP
 *       ({@code migrate}, then {@code query-migrate} until completed, which reports total-time and downtime).</li>
 * </ul>
 * QEMU's rows are left out, saying so, where {@code qemu-system-x86_64} is not installed.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.MigrationCliBench [--rounds 5] [--mem 256M]}
 */
public final class MigrationCliBench {
    private static final Path STASIS = Path.of("bin/stasis");
    private static final Pattern RESULT = Pattern.compile(".*total ([0-9.]+) ms, downtime ([0-9.]+) ms.*");

    record Hop(double totalMs, double downtimeMs) {}

    public static void main(String[] args) throws Exception {
        int rounds = 5;
        String mem = "256M";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--mem" -> mem = args[++i];
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--rounds N, --mem SIZE)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-migbench");
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        boolean qemu = Qemu.installed();
        List<Hop> stasis = new ArrayList<>(), theirs = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            stasis.add(stasisHop(dir, kernel, mem));
            if (qemu) {
                theirs.add(qemuHop(dir, kernel, mem));
            }
            System.out.printf("round %d: stasis %s%s%n", r + 1, stasis.get(r), qemu ? ", QEMU " + theirs.get(r) : "");
        }
        System.out.printf("%nmigration of the Multiboot test kernel, %s RAM, 1 vCPU, fresh processes over loopback, %d rounds (median [min-max])%n", mem, rounds);
        System.out.printf("| | stasis | QEMU %s | stasis / QEMU |%n|---|---:|---:|---:|%n", qemu ? Qemu.version() : "(not installed: apt-get install qemu-system-x86)");
        row("total, ms", stasis.stream().map(Hop::totalMs).toList(), theirs.stream().map(Hop::totalMs).toList());
        row("downtime, ms", stasis.stream().map(Hop::downtimeMs).toList(), theirs.stream().map(Hop::downtimeMs).toList());
    }

    private static void row(String what, List<Double> ours, List<Double> qemu) {
        String q = qemu.isEmpty() ? "-" : Stats.summary(qemu);
        String ratio = qemu.isEmpty() ? "-" : String.format("%.2f", Stats.median(ours) / Stats.median(qemu));
        System.out.printf("| %s | %s | %s | %s |%n", what, Stats.summary(ours), q, ratio);
    }

    private static Hop stasisHop(Path dir, Path kernel, String mem) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Files.deleteIfExists(socket);
        int port = freePort();
        try (Proc source = Proc.start(STASIS.toString(), "run", kernel.toString(), "--mem", mem, "--api-socket", socket.toString())) {
            source.await("mb n=2 cpu=0", 60);
            try (Proc dest = Proc.start(STASIS.toString(), "migrate", "receive", "--listen", "127.0.0.1:" + port, "--insecure")) {
                dest.await("waiting for a migration", 30);
                try (Proc send = Proc.start(STASIS.toString(), "migrate", "send", "--api-socket", socket.toString(), "--to", "127.0.0.1:" + port, "--insecure")) {
                    String line = send.await("downtime", 120);
                    Matcher m = RESULT.matcher(line);
                    if (!m.matches()) {
                        throw new IllegalStateException("stasis migrate send said: " + line);
                    }
                    return new Hop(Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)));
                }
            }
        }
    }

    private static Hop qemuHop(Path dir, Path kernel, String mem) throws Exception {
        int port = freePort();
        Path srcQmp = dir.resolve("src.qmp"), dstQmp = dir.resolve("dst.qmp");
        Files.deleteIfExists(srcQmp);
        Files.deleteIfExists(dstQmp);
        String size = mem.replace("M", "");
        try (Proc source = Proc.start(Qemu.args(kernel, size, null, null, srcQmp, null));
             Proc dest = Proc.start(Qemu.args(kernel, size, null, null, dstQmp, "tcp:127.0.0.1:" + port))) {
            source.await("mb n=2 cpu=0", 60);
            try (Qmp qmp = Qmp.connect(srcQmp)) {
                qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\"}}");
                JsonNode r = qmp.awaitMigration(120);
                return new Hop(r.path("total-time").asDouble(), r.path("downtime").asDouble());
            }
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
