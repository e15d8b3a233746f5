package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.checkpoint.LiveSnapshot;
import dev.stasis.fixtures.GuestLines;
import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stasis snapshot} live, as a user runs it: the default where userfaultfd works, {@code --no-live} and
 * {@code --exit} stopped, {@code --live --exit} refused; and on a VM whose process has no userfaultfd (its
 * /dev/userfaultfd hidden, CAP_SYS_PTRACE dropped), a stopped snapshot with one note naming what is missing,
 * or one error line when {@code --live} insisted.
 */
@RequiresKvm
class LiveSnapshotCliTest {
    @TempDir
    Path dir;

    @Test
    void liveIsTheDefaultAndTheGuestGoesOnWhileNoLiveAndExitPauseIt() throws Exception {
        assertNull(LiveSnapshot.unavailabilityCause(), LiveSnapshot.unavailabilityCause());
        Path socket = dir.resolve("vm.sock");
        try (LiveCli source = LiveCli.start("run", "dirtier", "--cpus", "2", "pages=1024", "report=50", "--api-socket", socket.toString())) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), source.output());
            CliProcess live = snapshot(socket, dir.resolve("live.stasis"));
            assertEquals(0, live.status(), live.err());
            assertTrue(live.out().matches("snapshot \\S+live.stasis: \\d+ bytes \\(\\d+ pages stored, \\d+ zero\\), written in \\d+ ms, paused \\d+\\.\\d ms, live\\n"), live.out());
            assertEquals("", live.err());
            CliProcess stopped = snapshot(socket, dir.resolve("stopped.stasis"), "--no-live");
            assertEquals(0, stopped.status(), stopped.err());
            assertTrue(stopped.out().matches("snapshot \\S+stopped.stasis: .*, paused \\d+\\.\\d ms\\n"), stopped.out());
            CliProcess both = snapshot(socket, dir.resolve("both.stasis"), "--live", "--exit");
            assertNotEquals(0, both.status());
            assertEquals("stasis: error: live and exit together: with exit the guest stops once the file is written, so it is written stopped; leave out live\n", both.err());
            int after = source.lines().size();
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, after, Duration.ofSeconds(30)), "the source goes on:\n" + source.output());
            assertTrue(source.isAlive());
        }
        try (LiveCli restored = LiveCli.start("restore", dir.resolve("live.stasis").toString())) {
            assertNotNull(restored.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), restored.output());
            assertNull(restored.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), restored.output());
        }
        assertFalse(Files.exists(dir.resolve("both.stasis")));
    }

    @Test
    void withoutUserfaultfdTheDefaultFallsBackWithOneNoteAndLiveIsRefusedInOneLine() throws Exception {
        Path socket = dir.resolve("vm.sock");
        // A mount namespace where /dev/userfaultfd is /dev/null, and no CAP_SYS_PTRACE for the system call.
        List<String> noUffd = List.of("unshare", "-m", "--propagation", "private", "sh", "-c",
                "mount --bind /dev/null /dev/userfaultfd && exec setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace \"$0\" \"$@\"");
        try (LiveCli source = LiveCli.startWith(noUffd, "run", "dirtier", "report=50", "--api-socket", socket.toString())) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)),
                    "this test runs a VM under unshare and setpriv, as root:\n" + source.output());
            String missing = "a live snapshot needs userfaultfd in write-protect mode: userfaultfd is unavailable: "
                    + "/dev/userfaultfd refuses USERFAULTFD_IOC_NEW: ENOTTY (Inappropriate ioctl for device), "
                    + "and the userfaultfd system call is refused: EPERM (needs CAP_SYS_PTRACE, or sysctl vm.unprivileged_userfaultfd=1)";
            CliProcess fallback = snapshot(socket, dir.resolve("a.stasis"));
            assertEquals(0, fallback.status(), fallback.err());
            assertEquals("stasis: note: " + missing + "; took a stopped snapshot instead\n", fallback.err());
            assertTrue(fallback.out().matches("snapshot \\S+a.stasis: .*, paused \\d+\\.\\d ms\\n"), fallback.out());
            CliProcess insisted = snapshot(socket, dir.resolve("b.stasis"), "--live");
            assertNotEquals(0, insisted.status());
            assertEquals("stasis: error: " + missing + "; nothing written (without --live a stopped snapshot is taken instead)\n", insisted.err());
            assertFalse(Files.exists(dir.resolve("b.stasis")));
            int after = source.lines().size();
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> true, after, Duration.ofSeconds(30)), source.output());
        }
    }

    private static CliProcess snapshot(Path socket, Path out, String... options) throws Exception {
        List<String> args = new java.util.ArrayList<>(List.of("snapshot", "--api-socket", socket.toString(), "--out", out.toString()));
        args.addAll(List.of(options));
        return CliProcess.run(List.of(), args.toArray(String[]::new));
    }
}
