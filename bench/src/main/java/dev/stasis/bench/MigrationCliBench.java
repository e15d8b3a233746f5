package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.fixtures.Guests;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
    private static final String QEMU = "/usr/bin/qemu-system-x86_64";
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
        Path dir = Files.createTempDirectory("stasis-migbench");
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        boolean qemu = Files.isExecutable(Path.of(QEMU));
        List<Hop> stasis = new ArrayList<>(), theirs = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            stasis.add(stasisHop(dir, kernel, mem));
            if (qemu) {
                theirs.add(qemuHop(dir, kernel, mem));
            }
            System.out.printf("round %d: stasis %s%s%n", r + 1, stasis.get(r), qemu ? ", QEMU " + theirs.get(r) : "");
        }
        System.out.printf("%nmigration of the Multiboot test kernel, %s RAM, 1 vCPU, fresh processes over loopback, %d rounds (median [min-max])%n", mem, rounds);
        System.out.printf("| | stasis | QEMU %s | stasis / QEMU |%n|---|---:|---:|---:|%n", qemu ? qemuVersion() : "(not installed: apt-get install qemu-system-x86)");
        row("total, ms", stasis.stream().map(Hop::totalMs).toList(), theirs.stream().map(Hop::totalMs).toList());
        row("downtime, ms", stasis.stream().map(Hop::downtimeMs).toList(), theirs.stream().map(Hop::downtimeMs).toList());
    }

    private static void row(String what, List<Double> ours, List<Double> qemu) {
        String q = qemu.isEmpty() ? "-" : summary(qemu);
        String ratio = qemu.isEmpty() ? "-" : String.format("%.2f", median(ours) / median(qemu));
        System.out.printf("| %s | %s | %s | %s |%n", what, summary(ours), q, ratio);
    }

    private static String summary(List<Double> v) {
        return String.format("%.1f [%.1f-%.1f]", median(v), v.stream().mapToDouble(d -> d).min().orElse(0), v.stream().mapToDouble(d -> d).max().orElse(0));
    }

    private static double median(List<Double> v) {
        List<Double> s = new ArrayList<>(v);
        s.sort(null);
        return s.get(s.size() / 2);
    }

    private static Hop stasisHop(Path dir, Path kernel, String mem) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Files.deleteIfExists(socket);
        int port = freePort();
        Process source = start(STASIS.toString(), "run", kernel.toString(), "--mem", mem, "--api-socket", socket.toString());
        Process dest = null;
        try {
            awaitLine(source, "mb n=2 cpu=0", 60);
            dest = start(STASIS.toString(), "migrate", "receive", "--listen", "127.0.0.1:" + port, "--insecure");
            awaitLine(dest, "waiting for a migration", 30);
            Process send = start(STASIS.toString(), "migrate", "send", "--api-socket", socket.toString(), "--to", "127.0.0.1:" + port, "--insecure");
            String line = awaitLine(send, "downtime", 120);
            send.waitFor(30, TimeUnit.SECONDS);
            Matcher m = RESULT.matcher(line);
            if (!m.matches()) {
                throw new IllegalStateException("stasis migrate send said: " + line);
            }
            return new Hop(Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2)));
        } finally {
            source.destroyForcibly();
            if (dest != null) {
                dest.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            source.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static Hop qemuHop(Path dir, Path kernel, String mem) throws Exception {
        int port = freePort();
        Path srcQmp = dir.resolve("src.qmp"), dstQmp = dir.resolve("dst.qmp");
        Files.deleteIfExists(srcQmp);
        Files.deleteIfExists(dstQmp);
        Process source = start(qemuArgs(kernel, mem, srcQmp, null));
        Process dest = start(qemuArgs(kernel, mem, dstQmp, "tcp:127.0.0.1:" + port));
        try {
            awaitLine(source, "mb n=2 cpu=0", 60);
            try (Qmp qmp = Qmp.connect(srcQmp)) {
                qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\"}}");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (System.nanoTime() < deadline) {
                    JsonNode r = qmp.execute("{\"execute\":\"query-migrate\"}").path("return");
                    String status = r.path("status").asText();
                    if (status.equals("completed")) {
                        return new Hop(r.path("total-time").asDouble(), r.path("downtime").asDouble());
                    }
                    if (status.equals("failed") || status.equals("cancelled")) {
                        throw new IllegalStateException("QEMU migration " + status + ": " + r);
                    }
                    Thread.sleep(5);
                }
                throw new IllegalStateException("QEMU migration did not complete in 120 s");
            }
        } finally {
            source.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            dest.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String[] qemuArgs(Path kernel, String mem, Path qmp, String incoming) {
        List<String> a = new ArrayList<>(List.of(QEMU, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-m", mem.replace("M", ""),
                "-smp", "1", "-display", "none", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                "-kernel", kernel.toString(), "-qmp", "unix:" + qmp + ",server=on,wait=off"));
        if (incoming != null) {
            a.addAll(List.of("-incoming", incoming));
        }
        return a.toArray(String[]::new);
    }

    private static String qemuVersion() throws IOException, InterruptedException {
        Process p = start(QEMU, "--version");
        String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().findFirst().orElse("");
        p.waitFor();
        Matcher m = Pattern.compile("version (\\S+)").matcher(v);
        return m.find() ? m.group(1) : v;
    }

    private static Process start(String... command) throws IOException {
        return new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start();
    }

    /** Reads {@code p}'s output until a line containing {@code text}; returns that line. */
    private static String awaitLine(Process p, String text, int seconds) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.ISO_8859_1));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        StringBuilder seen = new StringBuilder();
        while (System.nanoTime() < deadline) {
            String line = in.readLine();
            if (line == null) {
                throw new IllegalStateException("process ended before '" + text + "':\n" + seen);
            }
            seen.append(line).append('\n');
            if (line.contains(text)) {
                drain(in);
                return line;
            }
        }
        throw new IllegalStateException("no '" + text + "' in " + seconds + " s:\n" + seen);
    }

    /** Keeps reading a process's output, so it never blocks on a full pipe. */
    private static void drain(BufferedReader in) {
        Thread t = new Thread(() -> {
            try {
                while (in.readLine() != null) {
                    // discarded
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "drain");
        t.setDaemon(true);
        t.start();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A QMP client on a Unix socket: the greeting, qmp_capabilities, then one command and its answer at a time. */
    private static final class Qmp implements AutoCloseable {
        private final SocketChannel channel;
        private final BufferedReader in;
        private final ObjectMapper json = new ObjectMapper();

        private Qmp(SocketChannel channel) {
            this.channel = channel;
            this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        }

        static Qmp connect(Path socket) throws Exception {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (true) {
                try {
                    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                    ch.connect(UnixDomainSocketAddress.of(socket));
                    Qmp q = new Qmp(ch);
                    q.in.readLine(); // the greeting
                    q.execute("{\"execute\":\"qmp_capabilities\"}");
                    return q;
                } catch (IOException e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(20);
                }
            }
        }

        /** Sends a command and returns its answer (events in between are skipped). */
        JsonNode execute(String command) throws IOException {
            channel.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.UTF_8)));
            while (true) {
                String line = in.readLine();
                if (line == null) {
                    throw new IOException("QMP closed");
                }
                JsonNode n = json.readTree(line);
                if (n.has("return") || n.has("error")) {
                    if (n.has("error")) {
                        throw new IOException("QMP error for " + command + ": " + n.get("error"));
                    }
                    return n;
                }
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }
}
