package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.control.ControlClient;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.os.LibC;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * stasis as an ordinary user: uid 65534 with /dev/kvm's group runs, snapshots and restores a guest with no root
 * anywhere; without the group it is told the fix; {@code --jail} tells it that it needs root. Needs root to start
 * processes as that user.
 */
@RequiresKvm
class OrdinaryUserCliTest {
    static final Pattern IDLE_READY = Pattern.compile("idle ready.*");

    @TempDir
    Path dir;
    private String classPath;
    private Path work;
    private int kvmGroup;

    @BeforeEach
    void asNobody() throws Exception {
        assertEquals(0, LibC.geteuid(), "OrdinaryUserCliTest needs root to start processes as another user: run the suite as root, as .ci/run does");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
        classPath = Unprivileged.readableClassPath(dir.resolve("cp"));
        work = Files.createDirectory(dir.resolve("work"));
        Files.setAttribute(work, "unix:uid", Unprivileged.ID);
        kvmGroup = (Integer) Files.getAttribute(Path.of("/dev/kvm"), "unix:gid");
    }

    @Test
    void aUserInKvmsGroupRunsSnapshotsAndRestoresWithoutRoot() throws Exception {
        List<String> user = Unprivileged.as(kvmGroup);
        CliProcess hello = CliProcess.exec(work, Unprivileged.command(user, classPath, "run", "hello"));
        assertEquals(0, hello.status(), hello.err());
        assertTrue(hello.out().contains("hello from stasis guest"), hello.out());

        Path socket = work.resolve("vm.sock");
        Path file = work.resolve("idle.stasis");
        try (LiveCli vm = LiveCli.startOn(classPath, user, "run", "idle", "--api-socket", socket.toString())) {
            assertNotNull(vm.await(IDLE_READY, m -> true, 0, Duration.ofSeconds(60)), vm.output());
            assertEquals(Unprivileged.ID, Files.getAttribute(socket, "unix:uid", LinkOption.NOFOLLOW_LINKS), "the socket is the VM user's");
            CliProcess snap = CliProcess.exec(work, Unprivileged.command(user, classPath, "snapshot", "--api-socket", socket.toString(),
                    "--out", file.toString(), "--exit"));
            assertEquals(0, snap.status(), snap.err());
            assertEquals(0, vm.awaitExit(Duration.ofSeconds(20)), vm.output());
        }
        assertEquals(Unprivileged.ID, Files.getAttribute(file, "unix:uid"));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));

        try (LiveCli restored = LiveCli.startOn(classPath, user, "restore", file.toString(), "--api-socket", socket.toString())) {
            JailCliTest.awaitSocket(socket, restored);
            assertEquals("running", ControlClient.call(socket, ControlClient.request("status")).path("state").asText());
            ControlClient.call(socket, ControlClient.request("stop"));
            assertNotNull(restored.awaitExit(Duration.ofSeconds(20)), restored.output());
        }
    }

    @Test
    void withoutKvmsGroupTheErrorNamesTheFixAndJailSaysItNeedsRoot() throws Exception {
        int mode = (Integer) Files.getAttribute(Path.of("/dev/kvm"), "unix:mode");
        if ((mode & 06) != 06) { // where /dev/kvm is open to everyone (0666), no group is needed
            CliProcess refused = CliProcess.exec(work, Unprivileged.command(Unprivileged.as(), classPath, "run", "hello"));
            assertEquals(2, refused.status(), refused.err());
            String group = Files.readAttributes(Path.of("/dev/kvm"), java.nio.file.attribute.PosixFileAttributes.class).group().getName();
            assertEquals("stasis: error: /dev/kvm: EACCES (Permission denied): no permission: add your user to its group (usermod -aG "
                    + group + " $USER, then log in again) or run as root", refused.err().strip());
        }
        CliProcess jail = CliProcess.exec(work, Unprivileged.command(Unprivileged.as(kvmGroup), classPath, "run", "hello", "--jail", "j"));
        assertEquals(2, jail.status(), jail.err());
        assertEquals("stasis: error: --jail needs root (it makes namespaces, mounts and device nodes, then drops to --uid); "
                + "run it as root, or run without --jail as a user in /dev/kvm's group", jail.err().strip());
    }
}
