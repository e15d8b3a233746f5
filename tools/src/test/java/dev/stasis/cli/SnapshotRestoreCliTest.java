package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Suspend and resume as a user does it, across processes: {@code stasis run --api-socket},
 * {@code stasis snapshot}, {@code stasis restore}.
 */
@RequiresKvm
class SnapshotRestoreCliTest {
    @TempDir
    Path dir;

    @Test
    void dirtierOnTwoVcpusGoesOnInANewProcessAndTheSourceExits() throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("dirtier.stasis");
        int[] lastBefore;
        String sourceText;
        try (LiveCli source = LiveCli.start("run", "dirtier", "--cpus", "2", "report=50", "--api-socket", socket.toString())) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 200, 0, Duration.ofSeconds(30)), source.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString(), "--exit");
            assertEquals(0, snap.status(), snap.err());
            assertTrue(snap.out().contains("VM stopped"), snap.out());
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), "the source exits 0 after a snapshot with --exit:\n" + source.output());
            sourceText = source.text();
            lastBefore = new int[] {lastRound(source.lines(), 0), lastRound(source.lines(), 1)};
            assertFalse(Files.exists(socket), "the control socket is removed when the VM ends");
        }
        assertTrue(Files.size(file) > 0);
        try (LiveCli restored = LiveCli.start("restore", file.toString())) {
            for (int cpu = 0; cpu < 2; cpu++) {
                String c = String.valueOf(cpu);
                int target = lastBefore[cpu] + 200;
                assertNotNull(restored.await(GuestLines.DIRTIER_OK, m -> m.group(3).equals(c) && Integer.parseInt(m.group(1)) >= target,
                        0, Duration.ofSeconds(30)), "cpu " + cpu + " did not go on after restore:\n" + restored.output());
            }
            assertNull(restored.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), restored.output());
            assertTrue(restored.isAlive());
            // The console across the move, the source's bytes then the restored guest's (a line cut by the
            // snapshot continues there): every vCPU's reports follow each other with no gap and no repeat.
            var rounds = GuestLines.dirtierRounds(sourceText + restored.text());
            for (int cpu = 0; cpu < 2; cpu++) {
                List<Integer> r = rounds.get(cpu);
                assertNotNull(r, "no reports of cpu " + cpu);
                for (int i = 0; i < r.size(); i++) {
                    assertEquals(50 * (i + 1), r.get(i), "cpu " + cpu + "'s reports across the move: " + r);
                }
                assertTrue(r.get(r.size() - 1) >= lastBefore[cpu] + 200, "cpu " + cpu + ": " + r);
            }
            // Lazy is the default where userfaultfd works (it does wherever /dev/kvm tests run as root).
            assertTrue(restored.output().contains("its memory arrives while it runs"), restored.output());
            assertTrue(restored.output().contains("all guest memory in place"), restored.output());
            if (dev.stasis.uffd.Userfaultfd.movesPages()) { // Linux 6.8: chunks are moved in, not copied
                assertFalse(restored.output().contains(" 0 moved in)"), restored.output());
            }
        }
        try (LiveCli eager = LiveCli.start("restore", "--eager", file.toString())) {
            int target = lastBefore[0] + 100;
            assertNotNull(eager.await(GuestLines.DIRTIER_OK, m -> m.group(3).equals("0") && Integer.parseInt(m.group(1)) >= target,
                    0, Duration.ofSeconds(30)), "the guest goes on after an eager restore:\n" + eager.output());
            assertFalse(eager.output().contains("arrives while it runs"), eager.output());
        }
        try (LiveCli copied = LiveCli.start("restore", "--copy-pages", file.toString())) {
            int target = lastBefore[0] + 100;
            assertNotNull(copied.await(GuestLines.DIRTIER_OK, m -> m.group(3).equals("0") && Integer.parseInt(m.group(1)) >= target,
                    0, Duration.ofSeconds(30)), "the guest goes on after a lazy restore that copies pages in:\n" + copied.output());
            assertTrue(copied.output().contains("all guest memory in place") && copied.output().contains(" 0 moved in)"), copied.output());
            assertNull(copied.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), copied.output());
        }
    }

    @Test
    void aSnapshotWithoutExitLeavesTheSourceRunning() throws Exception {
        Path socket = dir.resolve("vm.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "report=50", "--api-socket", socket.toString())) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), source.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", socket.toString(), "--out", dir.resolve("a.stasis").toString());
            assertEquals(0, snap.status(), snap.err());
            int after = source.lines().size();
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, after, Duration.ofSeconds(30)), "the source goes on:\n" + source.output());
            assertTrue(source.isAlive());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"periodic", "oneshot", "deadline"})
    void tickerKeepsItsRateAfterRestoreInAnotherProcess(String mode) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("ticker.stasis");
        long lastBefore;
        try (LiveCli source = LiveCli.start("run", "ticker", "mode=" + mode, "period_us=4000", "every=50", "--api-socket", socket.toString())) {
            assertNotNull(source.await(GuestLines.TICKER_TICK, m -> Long.parseLong(m.group(1)) >= 100, 0, Duration.ofSeconds(20)), source.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString(), "--exit");
            assertEquals(0, snap.status(), snap.err());
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), source.output());
            lastBefore = source.lines().stream().map(GuestLines.TICKER_TICK::matcher).filter(Matcher::matches)
                    .mapToLong(m -> Long.parseLong(m.group(1))).max().orElseThrow();
        }
        long tscKhz = TscRate.khz();
        long expectedTscPerLine = tscKhz * 200; // every=50 interrupts of 4 ms = 0.2 s of guest TSC
        try (LiveCli restored = LiveCli.start("restore", file.toString())) {
            Matcher first = restored.await(GuestLines.TICKER_TICK, m -> true, 0, Duration.ofSeconds(20));
            assertNotNull(first, restored.output());
            assertTrue(Long.parseLong(first.group(1)) > lastBefore, "the count goes on after " + lastBefore + ": " + first.group());
            // This host's KVM cannot set a guest TSC, so the guest's TSC jumps by the time between save and
            // restore, and a TSC-deadline guest catches up the ticks it missed. Measure the steady rate after that:
            // from the first pair of lines spaced as the period says, over the next 400 interrupts.
            Matcher steady = null;
            long previousTsc = Long.parseLong(first.group(2));
            for (int i = 0; i < 100 && steady == null; i++) {
                Matcher m = restored.await(GuestLines.TICKER_TICK, x -> true, restored.lines().size(), Duration.ofSeconds(5));
                assertNotNull(m, "ticks stopped after restore:\n" + restored.output());
                long tsc = Long.parseLong(m.group(2));
                if (Math.abs(tsc - previousTsc - expectedTscPerLine) < expectedTscPerLine / 5) {
                    steady = m;
                }
                previousTsc = tsc;
            }
            assertNotNull(steady, "the rate never settled after restore:\n" + restored.output());
            long from = Long.parseLong(steady.group(1));
            Matcher last = restored.await(GuestLines.TICKER_TICK, m -> Long.parseLong(m.group(1)) >= from + 400, 0, Duration.ofSeconds(20));
            assertNotNull(last, restored.output());
            double ticks = Long.parseLong(last.group(1)) - from;
            double seconds = (Long.parseLong(last.group(2)) - Long.parseLong(steady.group(2))) / (tscKhz * 1000.0);
            double rate = ticks / seconds;
            assertEquals(250.0, rate, 25.0, mode + ": " + rate + "/s after restore\n" + restored.output());
        }
    }

    @Test
    void restoreRefusesAskedVcpusOrMemoryThatDifferFromTheFile() throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("two.stasis");
        try (LiveCli source = LiveCli.start("run", "hello", "--cpus", "2", "--api-socket", socket.toString())) {
            source.awaitExit(Duration.ofSeconds(20)); // hello exits at once; snapshot a halted guest instead:
        }
        try (LiveCli source = LiveCli.start("run", "idle", "--cpus", "2", "--mem", "64M", "--api-socket", socket.toString())) {
            assertNotNull(source.await(java.util.regex.Pattern.compile("idle ready.*"), m -> true, 0, Duration.ofSeconds(20)), source.output());
            assertEquals(0, CliProcess.run(List.of(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString(), "--exit").status());
            source.awaitExit(Duration.ofSeconds(10));
        }
        CliProcess cpus = CliProcess.run(List.of(), "restore", file.toString(), "--cpus", "1");
        assertNotEquals(0, cpus.status());
        assertTrue(cpus.err().strip().startsWith("stasis: error: ") && cpus.err().contains("2 vCPUs, not 1"), cpus.err());
        CliProcess mem = CliProcess.run(List.of(), "restore", file.toString(), "--mem", "128M");
        assertNotEquals(0, mem.status());
        assertTrue(mem.err().contains("bytes of RAM, not 134217728"), mem.err());
        assertEquals(1, mem.err().strip().lines().count(), mem.err());
    }

    private static int lastRound(List<String> lines, int cpu) {
        return lines.stream().map(GuestLines.DIRTIER_OK::matcher).filter(m -> m.matches() && Integer.parseInt(m.group(3)) == cpu)
                .mapToInt(m -> Integer.parseInt(m.group(1))).max().orElse(0);
    }
}
