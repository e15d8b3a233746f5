package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.control.ControlClient;
import dev.stasis.jail.Jailer;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.os.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --jail}, looked at from outside as an attacker's target: the jailed VM runs as nobody, in mount, PID and
 * network namespaces of its own, with no_new_privs and no capabilities, rooted in its jail; it snapshots into the
 * jail and nowhere else, whatever path it is given; the snapshot restores jailed. Needs root, unshare, setpriv.
 */
@RequiresKvm
class JailCliTest {
    @TempDir
    Path dir;

    @BeforeAll
    static void rootAndTools() {
        assertEquals(0, LibC.geteuid(), "JailCliTest needs root (--jail makes namespaces, mounts and device nodes): run the suite as root, as .ci/run does");
        for (String[] tool : new String[][] {{"unshare", "util-linux"}, {"setpriv", "util-linux"}, {"mount", "mount"}, {"chroot", "coreutils"}}) {
            try {
                Jailer.tool(tool[0], tool[1]);
            } catch (IllegalArgumentException e) {
                fail("JailCliTest: " + e.getMessage());
            }
        }
    }

    @Test
    void aJailedVmRunsUnprivilegedInItsOwnNamespacesAndWritesOnlyInsideItsJail() throws Exception {
        Path jail = dir.resolve("jail");
        Path socket = jail.resolve("vm.sock");
        try (LiveCli vm = LiveCli.start("run", "idle", "--jail", jail.toString(), "--api-socket", "/vm.sock")) {
            assertNotNull(vm.await(OrdinaryUserCliTest.IDLE_READY, m -> true, 0, Duration.ofSeconds(60)), vm.output());
            long pid = jailedVm(vm);
            Map<String, String> status = status(pid);
            assertEquals("65534\t65534\t65534\t65534", status.get("Uid"), "real, effective, saved and file-system uid");
            assertEquals("65534\t65534\t65534\t65534", status.get("Gid"));
            assertEquals("", status.get("Groups"), "no supplementary groups (not even /dev/kvm's)");
            assertEquals("1", status.get("NoNewPrivs"));
            for (String caps : List.of("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")) {
                assertEquals("0000000000000000", status.get(caps), caps);
            }
            for (String ns : List.of("mnt", "pid", "net")) {
                assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns", ns)), Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns", ns)),
                        "the jailed VM's " + ns + " namespace is its own");
            }
            assertEquals(jail.toRealPath(), Files.readSymbolicLink(Path.of("/proc/" + pid + "/root")), "chrooted into the jail");
            assertEquals(Unprivileged.ID, Files.getAttribute(socket, "unix:uid", LinkOption.NOFOLLOW_LINKS), "the socket is at DIR/PATH, the VM's");

            // Paths that lead out of the jail on the host: each fails or lands inside the jail; none reaches the host.
            String name = "stasis-jail-escape-" + ProcessHandle.current().pid() + ".stasis";
            Path hostWritable = dir.resolve(name); // an absolute path that exists on the host, not in the jail
            List<String> outside = List.of("../../etc/" + name, "/../../../" + name, hostWritable.toString(),
                    "/proc/self/root/../../" + name, "/proc/1/cwd/../../" + name, "/dev/../../" + name);
            List<String> answers = new ArrayList<>();
            for (String target : outside) {
                try {
                    ControlClient.call(socket, ControlClient.request("snapshot").put("path", target));
                    answers.add(target + ": written");
                } catch (IOException e) {
                    answers.add(target + ": " + e.getMessage());
                }
            }
            for (Path host : List.of(Path.of("/etc", name), Path.of("/", name), hostWritable, dir.getParent().resolve(name))) {
                assertFalse(Files.exists(host, LinkOption.NOFOLLOW_LINKS), host + " was written from inside the jail: " + answers);
            }
            assertTrue(Files.exists(jail.resolve(name)), "a snapshot to the jail's root through /proc/self/root lands in the jail: " + answers);
            assertTrue(answers.get(0).contains("not writable"), answers.toString());

            IOException migrate = assertThrows(IOException.class, () -> ControlClient.call(socket,
                    ControlClient.request("migrate").put("to", "127.0.0.1:9").put("insecure", true)));
            assertTrue(migrate.getMessage().contains("this VM runs in a jail"), migrate.getMessage());

            CliProcess second = CliProcess.run(List.of(), "run", "hello", "--jail", jail.toString());
            assertEquals(2, second.status(), second.err());
            assertEquals("stasis: error: --jail " + jail.toRealPath() + ": in use by another jailed VM", second.err().strip());

            ControlClient.call(socket, ControlClient.request("snapshot").put("path", "/idle.stasis").put("exit", true));
            assertEquals(0, vm.awaitExit(Duration.ofSeconds(20)), vm.output());
        }
        Path file = jail.resolve("idle.stasis");
        assertTrue(Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS), "the snapshot is in the jail");
        assertEquals(Unprivileged.ID, Files.getAttribute(file, "unix:uid"));
        assertFalse(Files.exists(socket, LinkOption.NOFOLLOW_LINKS), "the control socket is removed when the VM ends");

        // The snapshot is an input now: given by its host path, it is bound read-only into the next jail.
        try (LiveCli restored = LiveCli.start("restore", file.toString(), "--jail", jail.toString(), "--api-socket", "/vm.sock")) {
            awaitSocket(socket, restored);
            JsonNode state = ControlClient.call(socket, ControlClient.request("status"));
            assertEquals("running", state.path("state").asText(), restored.output());
            assertEquals("65534\t65534\t65534\t65534", status(jailedVm(restored)).get("Uid"));
            ControlClient.call(socket, ControlClient.request("stop"));
            assertNotNull(restored.awaitExit(Duration.ofSeconds(20)), restored.output());
        }
    }

    @Test
    void badJailInputIsOneLineAndStatus2() throws Exception {
        Path file = Files.writeString(dir.resolve("file"), "x");
        Path full = Files.createDirectory(dir.resolve("full"));
        Files.writeString(full.resolve("data"), "x");
        Path linked = Files.createDirectory(dir.resolve("linked"));
        Files.writeString(linked.resolve(".stasis-jail"), "x");
        Files.createSymbolicLink(linked.resolve("usr"), Path.of("/etc"));
        Path fresh = dir.resolve("fresh");
        Map<List<String>, String> cases = Map.of(
                List.of("run", "hello", "--jail", file.toString()), "--jail " + file + ": not a directory",
                List.of("run", "hello", "--jail", full.toString()), "--jail " + full + ": not empty, and not a jail of stasis (it has no .stasis-jail); give a new or empty directory",
                List.of("run", "hello", "--jail", linked.toString()), "--jail " + linked + ": " + linked.resolve("usr") + " is a symbolic link stasis did not make; give a new or empty directory",
                List.of("run", "hello", "--jail", fresh.toString(), "--uid", "0"), "--jail with uid 0 would run the VM as root inside it; give an unprivileged --uid/--gid, or add --jail-allow-root if that is really meant",
                List.of("restore", file.toString(), "--jail=" + fresh, "--gid", "root"), "--jail with gid 0 would run the VM as root inside it; give an unprivileged --uid/--gid, or add --jail-allow-root if that is really meant",
                List.of("run", "hello", "--jail", fresh.toString(), "--uid", "stasis-no-such-user"), "--uid stasis-no-such-user: no such user",
                List.of("run", "hello", "--uid", "nobody"), "--uid, --gid and --jail-allow-root apply only with --jail");
        for (Map.Entry<List<String>, String> c : cases.entrySet()) {
            CliProcess p = CliProcess.run(List.of(), c.getKey().toArray(String[]::new));
            assertEquals(2, p.status(), c.getKey() + ": " + p.err());
            assertEquals("stasis: error: " + c.getValue(), p.err().strip(), c.getKey().toString());
        }
        assertTrue(Files.isSymbolicLink(linked.resolve("usr")) && !Files.exists(fresh.resolve("usr")), "nothing was mounted or made");
    }

    /** The jailed JVM: the child of the process the test started (jail-init.sh, which stays outside the PID namespace). */
    static long jailedVm(LiveCli launcher) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (System.nanoTime() < deadline) {
            for (ProcessHandle child : ProcessHandle.of(launcher.pid()).orElseThrow().children().toList()) {
                if (child.info().command().orElse("").endsWith("/java")) {
                    return child.pid();
                }
            }
            Thread.sleep(50);
        }
        throw new AssertionError("no jailed JVM under " + launcher.pid() + ":\n" + launcher.output());
    }

    /** {@code /proc/PID/status} as name to value (whitespace at the ends removed). */
    static Map<String, String> status(long pid) throws IOException {
        Map<String, String> fields = new HashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
            int colon = line.indexOf(':');
            fields.put(line.substring(0, colon), line.substring(colon + 1).strip());
        }
        return fields;
    }

    /** Waits until {@code socket} answers (a restore prints no guest line to wait for). */
    static void awaitSocket(Path socket, LiveCli vm) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            try {
                ControlClient.call(socket, ControlClient.request("status"));
                return;
            } catch (IOException e) {
                if (!vm.isAlive()) {
                    break;
                }
                Thread.sleep(100);
            }
        }
        fail("the VM's control socket " + socket + " did not answer:\n" + vm.output());
    }
}
