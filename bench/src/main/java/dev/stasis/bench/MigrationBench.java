package dev.stasis.bench;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.Guests;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationReceiver;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;

/**
 * Live migration over loopback, source and destination in this JVM (two cores share both):
 * <ul>
 *   <li>idle: a 1 GiB guest running {@code ticker} (TSC-deadline, a line every 2 ms), memory as the guest left it
 *       (almost all zero), then with the snapshot benchmark's 256 MiB region loaded at 256 MiB;</li>
 *   <li>dirtier: {@code dirtier} rewriting {@code --dirty-pages} pages as fast as it can, which must converge.</li>
 * </ul>
 * Each guest goes A→B→A→B... {@code --repeat} times; the first hop runs on a cold JIT. Downtime is measured by the
 * VMM (pause to STARTED) and by the guest: the gap in ticker's TSC stamps across the hop, minus its usual step.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.MigrationBench [--repeat 4] [--connections 2]}
 */
public final class MigrationBench {
    private static final Auth KEY = new Auth.Psk("stasis-bench-pre-shared-key".getBytes(StandardCharsets.UTF_8));

    public static void main(String[] args) throws Exception {
        int repeat = 4;
        int connections = 1;
        int dirtyPages = 2048;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--repeat" -> repeat = Integer.parseInt(args[++i]);
                case "--connections" -> connections = Integer.parseInt(args[++i]);
                case "--dirty-pages" -> dirtyPages = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        System.out.printf("1 GiB guest, loopback, %d connection(s), PSK%n%n", connections);
        System.out.println("| guest | hop | rounds | pages (zero) | wire MiB | total ms | downtime ms (VMM) | downtime ms (guest) | throttle |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        hops("ticker idle", "ticker", Map.of("mode", "deadline", "period_us", "1000", "every", "2"), 0, repeat, connections);
        hops("ticker + snapshot-bench region", "ticker", Map.of("mode", "deadline", "period_us", "1000", "every", "2"), 256, repeat, connections);
        hops("dirtier " + dirtyPages + " pages", "dirtier", Map.of("pages", String.valueOf(dirtyPages), "report", "5"), 0, repeat, connections);
    }

    private static void hops(String label, String guest, Map<String, String> params, int fillMiB, int repeat, int connections) throws Exception {
        VmConfig config = VmConfig.of(1L << 30, 1);
        Lines console = new Lines();
        Machine m = Machine.create(config, console);
        m.boot(new BootSource.Flat(Guests.flatImage(guest), Guests.slotValues(guest, params)));
        if (fillMiB > 0) { // the snapshot benchmark's 256 MiB region (kernel bytes, text, zero, zero) at 256 MiB
            java.nio.file.Path region = java.nio.file.Files.createTempFile("stasis-migbench-", ".img");
            try {
                SnapshotBench.writeRegion(region, false);
                m.loadFile(region, SnapshotBench.REGION_GPA);
            } finally {
                java.nio.file.Files.deleteIfExists(region);
            }
        }
        m.start();
        Thread.sleep(1500);
        for (int hop = 1; hop <= repeat; hop++) {
            try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
                Lines next = new Lines();
                CompletableFuture<Machine> incoming = CompletableFuture.supplyAsync(
                        () -> MigrationReceiver.receive(server, next, MigrationReceiver.Options.of(KEY), l -> System.err.println("  dest: " + l)));
                MigrationSender.Result r = MigrationSender.migrate(m, new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort()),
                        MigrationSender.Options.of(KEY).withConnections(connections).withLimits(Duration.ofMillis(10), Duration.ofSeconds(60), 0), l -> System.err.println("  " + l));
                Machine b = incoming.get(30, TimeUnit.SECONDS);
                Thread.sleep(1500);
                String guestGap = guest.equals("ticker") ? gap(guestGapMillis(console, next, b.vm().tscKhz())) : "-";
                if (guest.equals("dirtier") && (next.text().contains("FAIL") || !next.text().contains("dirtier ok"))) {
                    throw new IllegalStateException("dirtier did not go on correctly:\n" + next.text());
                }
                System.out.printf("| %s | %d | %d | %d (%d) | %.1f | %.1f | %.1f | %s | %d%% |%n", label, hop, r.rounds(), r.pages(), r.zeroPages(),
                        r.bytes() / 1048576.0, r.total().toNanos() / 1e6, r.downtime().toNanos() / 1e6, guestGap, r.maxThrottle());
                m.close();
                m = b;
                console = next;
            }
        }
        m.close();
    }

    private static String gap(double ms) {
        return Double.isNaN(ms) ? "n/a (TSC jumped)" : String.format("%.1f", ms);
    }

    /** The largest step between consecutive ticker stamps across the hop, less the usual step, in ms. */
    private static double guestGapMillis(Lines before, Lines after, int tscKhz) {
        List<Long> a = stamps(before);
        List<Long> b = stamps(after);
        if (a.size() < 3 || b.isEmpty()) {
            return Double.NaN;
        }
        long usual = a.get(a.size() - 1) - a.get(a.size() - 2);
        long gap = b.get(0) - a.get(a.size() - 1);
        double ms = (gap - usual) / (double) tscKhz;
        // This host's KVM ignores a VMM's IA32_TSC write, so some hops do not carry the guest TSC over.
        return Math.abs(ms) > 60_000 ? Double.NaN : ms;
    }

    private static List<Long> stamps(Lines l) {
        List<Long> out = new ArrayList<>();
        for (String line : l.text().split("\n")) {
            Matcher m = GuestLines.TICKER_TICK.matcher(line.strip());
            if (m.matches()) {
                out.add(Long.parseLong(m.group(2)));
            }
        }
        return out;
    }

    /** The console as text. */
    private static final class Lines extends OutputStream {
        private final StringBuilder text = new StringBuilder();

        @Override
        public synchronized void write(int b) {
            text.append((char) (b & 0xff));
        }

        synchronized String text() {
            return text.toString();
        }
    }
}
