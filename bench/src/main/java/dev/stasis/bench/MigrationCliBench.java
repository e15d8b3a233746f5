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
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.MigrationCliBench [--rounds 5] [--mem 256M] [--pattern]}
 */
public final class MigrationCliBench {
    private static final Path STASIS = Path.of("bin/stasis");
    /** What {@code migrate send} prints last (DiskBench reads it too). */
    static final Pattern RESULT = Pattern.compile(".*total ([0-9.]+) ms, downtime ([0-9.]+) ms.*");
    private static final Pattern POSTCOPY_DONE = Pattern.compile(".*post-copy done: \\d+ pages arrived, (\\d+) requested by faults \\(round trip median (-?[0-9.]+) ms, 99% (-?[0-9.]+) ms.*");

    /** One migration: total and downtime; for a post-copy the page requests and their round trip (median, 99th percentile; -1: none). */
    record Hop(double totalMs, double downtimeMs, long requests, double roundTripMs, double roundTrip99Ms) {
        Hop(double totalMs, double downtimeMs) {
            this(totalMs, downtimeMs, -1, -1, -1);
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = 5;
        String mem = "256M";
        boolean withPattern = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--mem" -> mem = args[++i];
                case "--pattern" -> {
                    withPattern = true;
                    mem = "1G";
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--rounds N, --mem SIZE, --pattern)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-migbench");
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        // --pattern: the issue's idle guest, 1 GiB with SnapshotBench's 256 MiB pattern at 256 MiB (page-aligned kernel
        // pages, prose, zero), loaded into both VMMs' guests as SnapshotCliBench does.
        Path pattern = null;
        if (withPattern) {
            pattern = dir.resolve("pattern.bin");
            SnapshotBench.writeRegion(pattern, false);
        }
        boolean qemu = Qemu.installed();
        List<Hop> stasis = new ArrayList<>(), theirs = new ArrayList<>(), stasisPost = new ArrayList<>(), theirsPost = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            stasis.add(stasisHop(dir, kernel, mem, pattern, false));
            stasisPost.add(stasisHop(dir, kernel, mem, pattern, true));
            if (qemu) {
                theirs.add(qemuHop(dir, kernel, mem, pattern, false));
                theirsPost.add(qemuHop(dir, kernel, mem, pattern, true));
            }
            System.out.printf("round %d: stasis %s, post-copy %s%s%n", r + 1, stasis.get(r), stasisPost.get(r),
                    qemu ? "; QEMU " + theirs.get(r) + ", post-copy " + theirsPost.get(r) : "");
        }
        System.out.printf("%nmigration of the Multiboot test kernel, %s RAM%s, 1 vCPU, fresh processes over loopback, %d rounds (median [min-max])%n",
                mem, pattern != null ? " with the 256 MiB pattern at " + SnapshotCliBench.PATTERN_GPA : "", rounds);
        System.out.printf("| | stasis | QEMU %s | stasis / QEMU |%n|---|---:|---:|---:|%n", qemu ? Qemu.version() : "(not installed: apt-get install qemu-system-x86)");
        row("pre-copy total, ms", stasis.stream().map(Hop::totalMs).toList(), theirs.stream().map(Hop::totalMs).toList());
        row("pre-copy downtime, ms", stasis.stream().map(Hop::downtimeMs).toList(), theirs.stream().map(Hop::downtimeMs).toList());
        row("post-copy total, ms", stasisPost.stream().map(Hop::totalMs).toList(), theirsPost.stream().map(Hop::totalMs).toList());
        row("post-copy downtime, ms", stasisPost.stream().map(Hop::downtimeMs).toList(), theirsPost.stream().map(Hop::downtimeMs).toList());
        row("post-copy page requests", stasisPost.stream().map(h -> (double) h.requests()).toList(), theirsPost.stream().map(h -> (double) h.requests()).toList());
        if (pattern != null) {
            tickerTables(dir, rounds, mem, pattern); // the guest's own gap on the same memory; the other guests carry no pattern
            return;
        }
        // The request round trip wants a guest that faults a lot: dirtier on 2 vCPUs over 16 MiB, the push held to
        // 8 MiB/s so that its pages come mostly on request. QEMU cannot boot this flat fixture, and 7.2 does not
        // report its request latency (that came in 8.x): the physical reference is the loopback TCP round trip.
        List<Hop> faulting = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            faulting.add(stasisFaultingPostcopy(dir));
            System.out.printf("faulting post-copy %d: %s%n", r + 1, faulting.get(r));
        }
        System.out.printf("%npost-copy of dirtier (2 vCPUs, 4096 pages), 256 MiB, push held to 8 MiB/s, %d rounds%n", rounds);
        System.out.printf("| | stasis | physical reference | target |%n|---|---:|---:|---:|%n");
        System.out.printf("| page requests | %s | | |%n", Stats.summary(faulting.stream().map(h -> (double) h.requests()).toList()));
        System.out.printf("| request round trip, fault to page in place, median, ms | %s | loopback TCP round trip %.3f ms | <= 1 ms |%n",
                Stats.summary(faulting.stream().map(Hop::roundTripMs).toList()), loopbackRoundTripMs());
        System.out.printf("| the same, 99th percentile, ms | %s | | |%n", Stats.summary(faulting.stream().map(Hop::roundTrip99Ms).toList()));
        System.out.printf("| downtime, ms | %s | | |%n", Stats.summary(faulting.stream().map(Hop::downtimeMs).toList()));

        // A guest that keeps writing: dirtier on one vCPU over 2048 pages (8 MiB), at its own pace on this KVM.
        List<Hop> writing = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            writing.add(stasisDirtierPrecopy(dir));
            System.out.printf("dirtier pre-copy %d: %s%n", r + 1, writing.get(r));
        }
        System.out.printf("%npre-copy of dirtier (1 vCPU rewriting 2048 pages), 128 MiB, %d rounds%n", rounds);
        System.out.printf("| | stasis | target |%n|---|---:|---:|%n");
        System.out.printf("| total, ms | %s | |%n", Stats.summary(writing.stream().map(Hop::totalMs).toList()));
        System.out.printf("| downtime, ms | %s | <= 10 ms |%n", Stats.summary(writing.stream().map(Hop::downtimeMs).toList()));
        System.out.printf("| pre-copy rounds | %s | |%n", Stats.summary(writing.stream().map(h -> (double) h.requests()).toList()));

        tickerTables(dir, rounds, null, null);
    }

    /** ticker moved by pre-copy and by post-copy, {@code rounds} each: on 128 MiB, or on {@code mem} with {@code pattern} loaded. */
    private static void tickerTables(Path dir, int rounds, String mem, Path pattern) throws Exception {
        for (boolean postcopy : new boolean[] {false, true}) {
            String how = postcopy ? "post-copy" : "pre-copy";
            List<Double> vmm = new ArrayList<>(), guest = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                double[] g = tickerGap(dir, postcopy, mem, pattern);
                vmm.add(g[0]);
                guest.add(g[1]);
                System.out.printf("ticker %s %d: VMM downtime %.1f ms, guest gap %.1f ms%n", how, r + 1, g[0], g[1]);
            }
            System.out.printf("%n%s of ticker (TSC deadline every %d us, gaps=1), %s, %d rounds%n", how, TICK_US,
                    pattern == null ? "128 MiB" : mem + " with the 256 MiB pattern", rounds);
            System.out.printf("| | stasis | target |%n|---|---:|---:|%n");
            System.out.printf("| downtime, the VMM's figure, ms | %s | |%n", Stats.summary(vmm));
            System.out.printf("| the pause as the guest saw it (largest TSC step less a period), ms | %s | %s |%n", Stats.summary(guest),
                    postcopy ? "" : "<= 5 ms");
        }
    }

    private static final Pattern TICK = Pattern.compile("ticker n=(\\d+) tsc=(\\d+) gap=(\\d+)");
    private static final int TICK_US = 2000;

    /**
     * The pause as the guest sees it: ticker (TSC deadline every 2 ms, {@code gaps=1}: each report carries the
     * largest TSC step between two consecutive interrupts since the one before) migrated by pre-copy. The step that
     * spans the move lands in one of the destination's first two reports; less one period, it is the guest's gap
     * (the TSC per ms comes from the destination's own reports; the guest's TSC does not count the time between
     * the source's save and the destination's restore, so the gap is the guest's stall around the move, as the
     * ticking guest felt it). Returns {VMM downtime, guest gap} in ms.
     */
    private static double[] tickerGap(Path dir, boolean postcopy, String mem, Path pattern) throws Exception {
        List<String> send = postcopy ? List.of("--postcopy") : List.of();
        List<String> run = new ArrayList<>(List.of("ticker", "mode=deadline", "period_us=" + TICK_US, "every=5", "gaps=1"));
        if (pattern != null) {
            run.addAll(List.of("--mem", mem));
            run.addAll(loading(pattern));
        }
        return move(dir, run, "ticker n=", send, (source, dest, sent) -> {
            dest.await("ticker n=", 30);
            Thread.sleep(1000); // some hundred ticks at the destination
            List<long[]> reports = new ArrayList<>();
            for (String l : dest.lines()) {
                Matcher t = TICK.matcher(l.strip());
                if (t.matches()) {
                    reports.add(new long[] {Long.parseLong(t.group(1)), Long.parseLong(t.group(2)), Long.parseLong(t.group(3))});
                }
            }
            if (reports.size() < 4) {
                throw new IllegalStateException("ticker printed " + reports.size() + " reports at the destination in a second");
            }
            long[] from = reports.get(2), to = reports.get(reports.size() - 1);
            double perMs = (double) (to[1] - from[1]) / ((to[0] - from[0]) * (TICK_US / 1000.0));
            double largest = Math.max(reports.get(0)[2], reports.get(1)[2]);
            return new double[] {sent.downtimeMs(), Math.max(0, largest / perMs - TICK_US / 1000.0)};
        });
    }

    private static final Pattern ROUNDS = Pattern.compile(".*: (\\d+) rounds, .*");

    /** dirtier moved by pre-copy; the Hop's request count holds the rounds it took. */
    private static Hop stasisDirtierPrecopy(Path dir) throws Exception {
        return move(dir, List.of("dirtier", "pages=2048", "report=20"), "dirtier ok round=20 ", List.of("--downtime-ms", "10"), (source, dest, sent) -> {
            Matcher n = ROUNDS.matcher(sent.line());
            if (!n.matches()) {
                throw new IllegalStateException("stasis migrate send said: " + sent.line());
            }
            return new Hop(sent.totalMs(), sent.downtimeMs(), Long.parseLong(n.group(1)), -1, -1);
        });
    }

    private static Hop stasisFaultingPostcopy(Path dir) throws Exception {
        return move(dir, List.of("dirtier", "--cpus", "2", "pages=4096", "report=20", "--mem", "256M"), "dirtier ok round=20 ",
                List.of("--postcopy", "--max-bandwidth", "8M"), (source, dest, sent) -> postcopyHop(sent, dest));
    }

    /** What {@code migrate send} printed: the line, and its total and downtime. */
    record Sent(String line, double totalMs, double downtimeMs) {}

    /** What to read from a move while its processes still run. */
    @FunctionalInterface
    interface Reading<T> {
        T read(Proc source, Proc dest, Sent sent) throws Exception;
    }

    /**
     * One stasis move between fresh processes: {@code stasis run RUN --api-socket} until its console shows {@code ready},
     * {@code migrate receive}, then {@code migrate send SEND}; {@code then} reads the figures while all three run.
     */
    private static <T> T move(Path dir, List<String> run, String ready, List<String> send, Reading<T> then) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Files.deleteIfExists(socket);
        int port = freePort();
        List<String> vm = new ArrayList<>(List.of(STASIS.toString(), "run"));
        vm.addAll(run);
        vm.addAll(List.of("--api-socket", socket.toString()));
        long started = System.nanoTime();
        try (Proc source = Proc.start(vm.toArray(String[]::new))) {
            source.await(ready, 120);
            settle(started);
            try (Proc dest = Proc.start(STASIS.toString(), "migrate", "receive", "--listen", "127.0.0.1:" + port, "--insecure")) {
                dest.await("waiting for a migration", 30);
                List<String> sender = new ArrayList<>(List.of(STASIS.toString(), "migrate", "send", "--api-socket", socket.toString(),
                        "--to", "127.0.0.1:" + port, "--insecure"));
                sender.addAll(send);
                try (Proc p = Proc.start(sender.toArray(String[]::new))) {
                    String line = p.await("downtime", 300);
                    Matcher m = RESULT.matcher(line);
                    if (!m.matches()) {
                        throw new IllegalStateException("stasis migrate send said: " + line);
                    }
                    return then.read(source, dest, new Sent(line, Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2))));
                }
            }
        }
    }

    /**
     * A VM is moved once it has run a while, here at least {@link #SETTLE_MILLIS} after its process started, for both
     * VMMs: a stasis VM process warms its snapshot and migration paths in its first second (VmControl.warmUp); a
     * migration asked for before that shares the CPU with the warm-up (measured: total 130-200 ms instead of 80-110).
     */
    private static void settle(long startedNanos) throws InterruptedException {
        long left = SETTLE_MILLIS - (System.nanoTime() - startedNanos) / 1_000_000;
        if (left > 0) {
            Thread.sleep(left);
        }
    }

    private static final long SETTLE_MILLIS = 2000;

    /** A post-copy's figures: the sender's, and the destination's requests and their round trip (-1 without requests). */
    private static Hop postcopyHop(Sent sent, Proc dest) throws Exception {
        Matcher d = POSTCOPY_DONE.matcher(dest.await("post-copy done: ", 300));
        if (!d.matches()) {
            throw new IllegalStateException("the destination's post-copy line is not as expected");
        }
        long requests = Long.parseLong(d.group(1));
        return new Hop(sent.totalMs(), sent.downtimeMs(), requests,
                requests > 0 ? Double.parseDouble(d.group(2)) : -1, requests > 0 ? Double.parseDouble(d.group(3)) : -1);
    }

    /** Median of 2000 one-byte ping-pongs over a loopback TCP connection, Java on both ends. */
    private static double loopbackRoundTripMs() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             java.net.Socket client = new java.net.Socket(server.getInetAddress(), server.getLocalPort());
             java.net.Socket peer = server.accept()) {
            client.setTcpNoDelay(true);
            peer.setTcpNoDelay(true);
            Thread echo = new Thread(() -> {
                try {
                    for (int b; (b = peer.getInputStream().read()) >= 0; ) {
                        peer.getOutputStream().write(b);
                    }
                } catch (IOException ignored) {
                    // closed
                }
            });
            echo.setDaemon(true);
            echo.start();
            List<Double> samples = new ArrayList<>();
            for (int i = 0; i < 2000; i++) {
                long t = System.nanoTime();
                client.getOutputStream().write(1);
                client.getInputStream().read();
                samples.add((System.nanoTime() - t) / 1e6);
            }
            return Stats.median(samples);
        }
    }

    private static void row(String what, List<Double> ours, List<Double> reported) {
        List<Double> qemu = reported.stream().filter(v -> !v.isNaN()).toList();
        String missing = qemu.size() < reported.size() ? " (" + (reported.size() - qemu.size()) + " not reported)" : "";
        String q = qemu.isEmpty() ? "-" + missing : Stats.summary(qemu) + missing;
        String ratio = qemu.isEmpty() ? "-" : String.format("%.2f", Stats.median(ours) / Stats.median(qemu));
        System.out.printf("| %s | %s | %s | %s |%n", what, Stats.summary(ours), q, ratio);
    }

    private static Hop stasisHop(Path dir, Path kernel, String mem, Path pattern, boolean postcopy) throws Exception {
        List<String> run = new ArrayList<>(List.of(kernel.toString(), "--mem", mem));
        run.addAll(loading(pattern));
        return move(dir, run, "mb n=2 cpu=0", postcopy ? List.of("--postcopy") : List.of(),
                (source, dest, sent) -> postcopy ? postcopyHop(sent, dest) : new Hop(sent.totalMs(), sent.downtimeMs()));
    }

    /** {@code stasis run}'s arguments loading {@code pattern} where SnapshotCliBench does; none without one. */
    private static List<String> loading(Path pattern) {
        return pattern == null ? List.of() : List.of("--load", pattern + "@" + SnapshotCliBench.PATTERN_GPA);
    }

    private static Hop qemuHop(Path dir, Path kernel, String mem, Path pattern, boolean postcopy) throws Exception {
        int port = freePort();
        Path srcQmp = dir.resolve("src.qmp"), dstQmp = dir.resolve("dst.qmp");
        Files.deleteIfExists(srcQmp);
        Files.deleteIfExists(dstQmp);
        String size = mem.replace("M", "");
        long started = System.nanoTime();
        String at = pattern == null ? null : SnapshotCliBench.PATTERN_GPA;
        try (Proc source = Proc.start(Qemu.args(kernel, size, pattern, at, srcQmp, null));
             Proc dest = Proc.start(Qemu.args(kernel, size, pattern, at, dstQmp, "tcp:127.0.0.1:" + port))) {
            source.await("mb n=2 cpu=0", 60);
            settle(started);
            try (Qmp qmp = Qmp.connect(srcQmp); Qmp in = Qmp.connect(dstQmp)) {
                if (postcopy) {
                    String capability = "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"postcopy-ram\",\"state\":true}]}}";
                    in.execute(capability);
                    qmp.execute(capability);
                }
                qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\"}}");
                if (postcopy) {
                    qmp.execute("{\"execute\":\"migrate-start-postcopy\"}");
                }
                JsonNode r = qmp.awaitMigration(120);
                // QEMU at times leaves a figure out of a completed post-copy's answer: not measured, not zero.
                double total = r.has("total-time") ? r.path("total-time").asDouble() : Double.NaN;
                double downtime = r.has("downtime") ? r.path("downtime").asDouble() : Double.NaN;
                return postcopy ? new Hop(total, downtime, r.path("ram").path("postcopy-requests").asLong(), -1, -1) : new Hop(total, downtime);
            }
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }
}
