package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.TestCertificates;
import dev.stasis.kvm.testing.RequiresKvm;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Live migration as a user runs it: {@code stasis run --api-socket} on the source, {@code stasis migrate
 * receive} on the destination, {@code stasis migrate send}, each a separate process, over loopback.
 */
@RequiresKvm
class MigrateCliTest {
    @TempDir
    Path dir;

    @Test
    void dirtierOnTwoVcpusGoesAToBToAAndEachSourceExits() throws Exception {
        Path key = key("k");
        Path a = dir.resolve("a.sock");
        Path b = dir.resolve("b.sock");
        Path a2 = dir.resolve("a2.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "--cpus", "2", "pages=256", "report=20", "--api-socket", a.toString());
             LiveCli there = Receiver.start(key, b);
             LiveCli back = Receiver.start(key, a2)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 100, 0, Duration.ofSeconds(30)), source.output());
            send(a, there, key);
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), "the source exits 0 once migrated:\n" + source.output());
            assertTrue(source.output().contains("migrated to"), source.output());
            int[] last = {lastRound(source.lines(), 0), lastRound(source.lines(), 1)};
            expectRoundsGoOn(there, last);
            int[] lastThere = {lastRound(there.lines(), 0), lastRound(there.lines(), 1)};
            send(b, back, key);
            assertEquals(0, there.awaitExit(Duration.ofSeconds(10)), "B exits 0 once migrated back:\n" + there.output());
            expectRoundsGoOn(back, new int[] {Math.max(last[0], lastRound(there.lines(), 0)), Math.max(last[1], lastRound(there.lines(), 1))});
            assertTrue(lastThere[0] > last[0], "B ran the guest for a while");
            assertTrue(back.isAlive());
        }
    }

    @Test
    void postcopyStartsTheGuestAtTheDestinationAtOnceWarnsAndReportsItsPages() throws Exception {
        Path key = key("k");
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "--cpus", "2", "pages=256", "report=20", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key, null)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), source.output());
            CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--psk-file", key.toString(), "--postcopy");
            assertEquals(0, send.status(), send.out() + send.err() + "\n--- destination ---\n" + dest.output());
            assertTrue(send.err().contains("if this source dies before then, the guest is lost"), send.err());
            Matcher m = java.util.regex.Pattern.compile("migrated to .*: 1 rounds, .*, post-copy (\\d+) pages \\((\\d+) on request, 0 recoveries\\)\\s*").matcher(send.out());
            assertTrue(m.matches(), send.out());
            assertTrue(Long.parseLong(m.group(1)) >= 128L * 256, "all 128 MiB came after the switch: " + send.out());
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), source.output());
            awaitOutput(dest, "post-copy done: ");
            expectRoundsGoOn(dest, new int[] {lastRound(source.lines(), 0), lastRound(source.lines(), 1)});
        }
    }

    @Test
    void tickerKeepsItsRateAndCountAfterMigrating() throws Exception {
        Path key = key("k");
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "ticker", "mode=deadline", "period_us=4000", "every=50", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key, null)) {
            assertNotNull(source.await(GuestLines.TICKER_TICK, m -> Long.parseLong(m.group(1)) >= 250, 0, Duration.ofSeconds(30)), source.output());
            send(a, dest, key);
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), source.output());
            long lastBefore = 0;
            for (String l : source.lines()) {
                Matcher m = GuestLines.TICKER_TICK.matcher(l);
                if (m.matches()) {
                    lastBefore = Long.parseLong(m.group(1));
                }
            }
            long n0 = lastBefore;
            Matcher first = dest.await(GuestLines.TICKER_TICK, m -> true, 1, Duration.ofSeconds(10));
            assertNotNull(first, "no ticks after the migration:\n" + dest.output());
            assertEquals(n0 + 50, Long.parseLong(dest.await(GuestLines.TICKER_TICK, m -> true, 0, Duration.ZERO).group(1)),
                    "the count goes on with the next report:\n" + dest.output());
            long from = Long.parseLong(first.group(1));
            Matcher last = dest.await(GuestLines.TICKER_TICK, m -> Long.parseLong(m.group(1)) >= from + 500, 0, Duration.ofSeconds(10));
            assertNotNull(last, dest.output());
            double seconds = (Long.parseLong(last.group(2)) - Long.parseLong(first.group(2))) / (TscRate.khz() * 1000.0);
            double rate = (Long.parseLong(last.group(1)) - from) / seconds;
            assertEquals(250.0, rate, 25.0, "rate after migrating: " + rate + "/s\n" + dest.output());
        }
    }

    @Test
    void aWrongKeyIsRefusedOnBothSidesAndTheGuestKeepsRunning() throws Exception {
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "report=20", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key("right"), null)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), source.output());
            CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--psk-file", key("wrong").toString());
            assertEquals(1, send.status(), send.out() + send.err());
            assertTrue(send.err().contains("authentication failed"), send.err());
            assertTrue(send.err().contains("keeps running"), send.err());
            // The destination refuses that source in one line and goes on waiting for one with the key.
            awaitOutput(dest, "authentication failed: the source");
            assertTrue(dest.output().contains("still waiting for the source"), dest.output());
            assertTrue(dest.isAlive(), dest.output());
            int round = lastRound(source.lines(), 0);
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round + 40, 0, Duration.ofSeconds(20)), source.output());
        }
    }

    @Test
    void whenTheDestinationDiesMidwayTheSourceGuestKeepsRunning() throws Exception {
        Path key = key("k");
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "pages=2048", "report=5", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key, null)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 10, 0, Duration.ofSeconds(30)), source.output());
            // A slow link keeps the migration in pre-copy long enough to kill the destination during it.
            try (LiveCli send = LiveCli.start("migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--psk-file", key.toString(), "--max-bandwidth", "64K")) {
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (!dest.output().contains("round 1:")) {
                    assertTrue(dest.isAlive() && System.nanoTime() < deadline, dest.output());
                    Thread.sleep(20);
                }
                ProcessHandle.of(dest.pid()).orElseThrow().destroyForcibly();
                assertEquals(1, send.awaitExit(Duration.ofSeconds(40)), send.output());
                assertTrue(send.output().contains("the guest keeps running on the source"), send.output());
            }
            int round = lastRound(source.lines(), 0);
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round + 20, 0, Duration.ofSeconds(20)), source.output());
            assertNull(source.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), source.output());
            assertTrue(source.isAlive());
        }
    }

    @Test
    void insecureAgainstAKeyIsRefusedByName() throws Exception {
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "report=20", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key("k"), null)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), source.output());
            CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest), "--insecure");
            assertEquals(1, send.status());
            assertTrue(send.err().contains("authentication mismatch"), send.err());
            awaitOutput(dest, "authentication mismatch");
            assertTrue(dest.isAlive(), dest.output());
            assertTrue(source.isAlive());
        }
    }

    @Test
    void tlsCertificatesBothWaysMoveTheGuestAndAnUntrustedSourceIsRefused() throws Exception {
        TestCertificates pki = TestCertificates.create(Files.createDirectories(dir.resolve("pki")));
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "--cpus", "2", "pages=256", "report=20", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(List.of("--tls-cert", pki.cert("destination").toString(), "--tls-key", pki.key("destination").toString(),
                     "--tls-ca", pki.cert("ca").toString()))) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), source.output());
            CliProcess stranger = CliProcess.run(List.of(), "migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--tls-cert", pki.cert("stranger").toString(), "--tls-key", pki.key("stranger").toString(), "--tls-ca", pki.cert("ca").toString());
            assertEquals(1, stranger.status(), stranger.out() + stranger.err());
            // The source hears the refusal as a TLS alert when it reads it before the connection resets (usually);
            // the destination always says why.
            assertTrue(stranger.err().contains("keeps running on the source"), stranger.err());
            awaitOutput(dest, "signed by a CA in --tls-ca");
            assertTrue(dest.isAlive(), dest.output());
            CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--tls-cert", pki.cert("source").toString(), "--tls-key", pki.key("source").toString(), "--tls-ca", pki.cert("ca").toString(),
                    "--connections", "2");
            assertEquals(0, send.status(), send.out() + send.err() + "\n--- destination ---\n" + dest.output());
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), source.output());
            expectRoundsGoOn(dest, new int[] {lastRound(source.lines(), 0), lastRound(source.lines(), 1)});
        }
    }

    @Test
    void aRunningMigrationCanBeWatchedAndCancelledFromAnotherClient() throws Exception {
        Path a = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "pages=4096", "report=20", "--api-socket", a.toString());
             LiveCli dest = Receiver.start(key("right"), null)) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), source.output());
            // 32 KiB/s: round 1 (dirtier's pages compress to little, but not to nothing) takes seconds to watch and cancel.
            try (LiveCli send = LiveCli.start("migrate", "send", "--api-socket", a.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                    "--psk-file", key("right").toString(), "--max-bandwidth", "32K")) {
                CliProcess status = null;
                long deadline = System.nanoTime() + 20_000_000_000L;
                while (System.nanoTime() < deadline) {
                    status = CliProcess.run(List.of(), "migrate", "status", "--api-socket", a.toString());
                    if (status.status() == 0 && status.out().startsWith("pre-copy")) {
                        break;
                    }
                    Thread.sleep(200);
                }
                assertEquals(0, status.status(), status.out() + status.err());
                assertTrue(status.out().matches("pre-copy, round \\d+, \\d+ pages and \\d+ bytes sent, .*\\n"), status.out());
                CliProcess cancel = CliProcess.run(List.of(), "migrate", "cancel", "--api-socket", a.toString());
                assertEquals(0, cancel.status(), cancel.out() + cancel.err());
                assertEquals(1, send.awaitExit(Duration.ofSeconds(30)), send.output());
                assertTrue(send.output().contains("cancelled") && send.output().contains("keeps running on the source"), send.output());
            }
            assertEquals(1, dest.awaitExit(Duration.ofSeconds(30)), "the destination frees what it built and exits:\n" + dest.output());
            assertTrue(dest.output().contains("cancelled"), dest.output());
            int round = lastRound(source.lines(), 0);
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round + 40, 0, Duration.ofSeconds(30)),
                    "the guest runs on at the source:\n" + source.output());
            CliProcess none = CliProcess.run(List.of(), "migrate", "status", "--api-socket", a.toString());
            assertNotEquals(0, none.status());
            assertTrue(none.err().contains("no migration is running"), none.err());
        }
    }

    @Test
    void usageErrorsAreOneLine() throws Exception {
        CliProcess noAuth = CliProcess.run(List.of(), "migrate", "receive", "--listen", "127.0.0.1:1");
        assertEquals(Stasis.USAGE_ERROR, noAuth.status());
        assertTrue(noAuth.err().contains("--psk-file") && noAuth.err().contains("--insecure"), noAuth.err());
        CliProcess badAddress = CliProcess.run(List.of(), "migrate", "send", "--api-socket", "/nonexistent", "--to", "nowhere", "--insecure");
        assertEquals(Stasis.USAGE_ERROR, badAddress.status());
        assertTrue(badAddress.err().startsWith("stasis: error: 'nowhere' is not HOST:PORT"), badAddress.err());
        Path open = dir.resolve("open.key");
        Files.writeString(open, "0123456789abcdef0123");
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
        CliProcess loose = CliProcess.run(List.of(), "migrate", "receive", "--listen", "127.0.0.1:0", "--psk-file", open.toString());
        assertNotEquals(0, loose.status());
        assertTrue(loose.err().contains("readable by others"), loose.err());
    }

    /** Waits up to 10 s for {@code text} in the process's output (stdout or stderr). */
    private static void awaitOutput(LiveCli p, String text) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!p.output().contains(text)) {
            assertTrue(System.nanoTime() < deadline, "no '" + text + "' in:\n" + p.output());
            Thread.sleep(20);
        }
    }

    private void send(Path socket, LiveCli dest, Path key) throws Exception {
        CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", socket.toString(), "--to", "127.0.0.1:" + Receiver.port(dest),
                "--psk-file", key.toString(), "--downtime-ms", "100");
        assertEquals(0, send.status(), send.out() + send.err() + "\n--- destination ---\n" + dest.output());
        assertTrue(send.out().startsWith("migrated to "), send.out());
    }

    private static void expectRoundsGoOn(LiveCli dest, int[] last) throws InterruptedException {
        for (int cpu = 0; cpu < 2; cpu++) {
            String c = String.valueOf(cpu);
            int target = last[cpu] + 100;
            assertNotNull(dest.await(GuestLines.DIRTIER_OK, m -> m.group(3).equals(c) && Integer.parseInt(m.group(1)) >= target, 0, Duration.ofSeconds(30)),
                    "cpu " + cpu + " rounds go on past " + last[cpu] + ":\n" + dest.output());
        }
        assertNull(dest.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), dest.output());
    }

    private Path key(String name) throws IOException {
        Path k = dir.resolve(name + ".key");
        Files.writeString(k, "stasis-test-key-" + name + "-0123456789\n");
        Files.setPosixFilePermissions(k, PosixFilePermissions.fromString("rw-------"));
        return k;
    }

    static int lastRound(List<String> lines, int cpu) {
        int last = 0;
        for (String l : lines) {
            Matcher m = GuestLines.DIRTIER_OK.matcher(l);
            if (m.matches() && Integer.parseInt(m.group(3)) == cpu) {
                last = Math.max(last, Integer.parseInt(m.group(1)));
            }
        }
        return last;
    }

    /** A {@code migrate receive} on a free loopback port, started and listening. */
    static final class Receiver {
        static LiveCli start(Path key, Path apiSocket) throws Exception {
            return apiSocket == null ? start(List.of("--psk-file", key.toString())) : start(List.of("--psk-file", key.toString(), "--api-socket", apiSocket.toString()));
        }

        /** {@code migrate receive} on a free loopback port with {@code options} (authentication and the rest). */
        static LiveCli start(List<String> options) throws Exception {
            int port;
            try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
                port = probe.getLocalPort();
            }
            List<String> args = new java.util.ArrayList<>(List.of("migrate", "receive", "--listen", "127.0.0.1:" + port));
            args.addAll(options);
            LiveCli r = LiveCli.start(args.toArray(String[]::new));
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (!r.output().contains("waiting for a migration on")) {
                if (!r.isAlive() || System.nanoTime() > deadline) {
                    throw new AssertionError("migrate receive did not start listening:\n" + r.output());
                }
                Thread.sleep(50);
            }
            return r;
        }

        static int port(LiveCli r) {
            Matcher m = java.util.regex.Pattern.compile("waiting for a migration on \\S*:(\\d+)").matcher(r.output());
            assertTrue(m.find(), r.output());
            return Integer.parseInt(m.group(1));
        }
    }
}
