package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * bhyve's lesson (c72e914c, "vlapic resume can eat 100% CPU by vlapic_callout_handler"): a guest whose
 * LAPIC is software-disabled, or whose timer's initial count is 0, restores with no timer firing, and the
 * restored VMM process, with an idle guest, stays near zero CPU.
 */
@RequiresKvm
class IdleRestoreCpuTest {
    static final Pattern READY = Pattern.compile("idle ready lapic=\\w+");
    static final Pattern TICK = Pattern.compile("idle TICK");
    /** CPU seconds per second the idle restored VMM may use: JVM housekeeping, no timer loop. */
    static final double MAX_CPU_SHARE = 0.05;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"disabled", "zero_count"})
    void anIdleGuestWithATimerThatCannotFireRestoresWithoutBurningCpu(String lapic) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("idle.stasis");
        try (LiveCli source = LiveCli.start("run", "idle", "lapic=" + lapic, "--api-socket", socket.toString())) {
            assertNotNull(source.await(READY, m -> true, 0, Duration.ofSeconds(20)), source.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString(), "--exit");
            assertEquals(0, snap.status(), snap.err());
        }
        try (LiveCli restored = LiveCli.start("restore", file.toString())) {
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!restored.output().contains("stasis: restored") && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(restored.isAlive() && restored.output().contains("stasis: restored"), restored.output());
            Thread.sleep(1000); // let the JVM finish starting up
            long cpuBefore = cpuTicks(restored.pid());
            long t0 = System.nanoTime();
            Thread.sleep(3000);
            long cpuAfter = cpuTicks(restored.pid());
            double seconds = (System.nanoTime() - t0) / 1e9;
            double share = (cpuAfter - cpuBefore) / 100.0 / seconds; // USER_HZ = 100
            System.out.printf("idle restore, lapic=%s: %.3f CPU seconds per second%n", lapic, share);
            assertTrue(restored.isAlive(), restored.output());
            assertNull(restored.await(TICK, m -> true, 0, Duration.ZERO), "a timer fired after restore:\n" + restored.output());
            assertTrue(share < MAX_CPU_SHARE, String.format("the restored idle VMM used %.1f%% of a CPU", share * 100));
        }
    }

    /** utime + stime of a process, in clock ticks, from /proc/PID/stat. */
    static long cpuTicks(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15 of stat(5)
    }
}
