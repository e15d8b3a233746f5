package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stasis golden build|check} as a user runs them: a guest booted until a console line says it is ready,
 * kept with its build recipe, restored like any snapshot; and a changed or vanished input found by {@code check}.
 */
@RequiresKvm
class GoldenCliTest {
    @TempDir
    Path dir;

    @Test
    void aFixtureGuestIsKeptAtItsReadyLineAndGoesOnFromThereWhenRestored() throws Exception {
        Path golden = dir.resolve("dirtier.golden");
        CliProcess build = CliProcess.run(List.of(), "golden", "build", "--out", golden.toString(), "--ready", "dirtier ok round=20 ",
                "--", "dirtier", "pages=64", "report=20");
        assertEquals(0, build.status(), build.out() + build.err());
        assertTrue(build.err().contains("golden image " + golden + ": ready after"), build.err());
        assertTrue(build.out().contains("dirtier ok round=20 "), "the console is shown while it boots: " + build.out());

        CliProcess check = CliProcess.run(List.of(), "golden", "check", golden.toString());
        assertEquals(0, check.status(), check.out() + check.err());
        assertEquals(golden + ": current (1 inputs as built: stasis run dirtier pages=64 report=20)", check.out().strip());

        CliProcess inspect = CliProcess.run(List.of(), "inspect", golden.toString());
        assertTrue(inspect.out().contains("\"ready\":\"dirtier ok round=20 \"") && inspect.out().contains("fixture:dirtier"), inspect.out());

        try (LiveCli restored = LiveCli.start("restore", golden.toString())) {
            assertNotNull(restored.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 60, 0, Duration.ofSeconds(60)), restored.output());
            int first = restored.lines().stream().map(GuestLines.DIRTIER_OK::matcher).filter(java.util.regex.Matcher::matches)
                    .mapToInt(m -> Integer.parseInt(m.group(1))).min().orElseThrow();
            assertEquals(40, first, "it goes on from the ready line (round 20), not from a fresh boot: " + restored.output());
            assertNull(restored.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), restored.output());
        }
    }

    @Test
    void checkNamesAnInputThatChangedOrVanishedAndAnImageThatIsNotGolden() throws Exception {
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        Path golden = dir.resolve("kernel.golden");
        CliProcess build = CliProcess.run(List.of(), "golden", "build", "--out", golden.toString(), "--ready", "mb n=2 cpu=0",
                "--", kernel.toString(), "--mem", "64M");
        assertEquals(0, build.status(), build.out() + build.err());
        assertEquals(0, CliProcess.run(List.of(), "golden", "check", golden.toString()).status());

        Files.write(kernel, new byte[] {0}, StandardOpenOption.APPEND);
        CliProcess changed = CliProcess.run(List.of(), "golden", "check", golden.toString());
        assertEquals(1, changed.status(), changed.out() + changed.err());
        assertTrue(changed.out().contains(": stale: " + kernel + " changed since the build (sha256 "), changed.out());

        Files.delete(kernel);
        CliProcess gone = CliProcess.run(List.of(), "golden", "check", golden.toString());
        assertEquals(1, gone.status());
        assertTrue(gone.out().contains(": stale: " + kernel + " is gone"), gone.out());

        Path plain = dir.resolve("plain.stasis");
        try (LiveCli vm = LiveCli.start("run", "idle", "--api-socket", dir.resolve("vm.sock").toString())) {
            assertNotNull(vm.await(java.util.regex.Pattern.compile("idle ready.*"), m -> true, 0, Duration.ofSeconds(30)), vm.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", dir.resolve("vm.sock").toString(), "--out", plain.toString());
            assertEquals(0, snap.status(), snap.out() + snap.err());
        }
        CliProcess notGolden = CliProcess.run(List.of(), "golden", "check", plain.toString());
        assertEquals(2, notGolden.status(), notGolden.out() + notGolden.err());
        assertTrue(notGolden.err().contains("is not a golden image: its manifest has no build recipe"), notGolden.err());
    }

    @Test
    void aGuestThatStopsOrNeverGetsReadyLeavesNoFile() throws Exception {
        Path golden = dir.resolve("never.golden");
        CliProcess stopped = CliProcess.run(List.of(), "golden", "build", "--out", golden.toString(), "--ready", "never", "--", "hello");
        assertEquals(1, stopped.status());
        assertTrue(stopped.err().contains("the guest stopped before a console line matched --ready 'never': guest exited with status 0"), stopped.err());
        CliProcess late = CliProcess.run(List.of(), "golden", "build", "--out", golden.toString(), "--ready", "never", "--timeout", "2", "--", "idle");
        assertEquals(1, late.status());
        assertTrue(late.err().contains("no console line matched --ready 'never' within 2 s; no golden image written"), late.err());
        assertFalse(Files.exists(golden));
        CliProcess badPattern = CliProcess.run(List.of(), "golden", "build", "--out", golden.toString(), "--ready", "(", "--", "idle");
        assertEquals(2, badPattern.status());
        assertTrue(badPattern.err().startsWith("stasis: error: --ready: not a regular expression"), badPattern.err());
    }
}
