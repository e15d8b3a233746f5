package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.kvm.testing.RequiresKvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two hosts on one machine: network namespaces joined by a veth pair (10.231.0.1/24 and 10.231.0.2/24,
 * inside the namespaces only), the source VM in one, {@code migrate receive} in the other. Needs root and
 * iproute2; skipped with the reason elsewhere.
 */
@RequiresKvm
class MigrateNetnsTest {
    @TempDir
    Path dir;

    private final String nsA = "stasis-mig-a-" + ProcessHandle.current().pid();
    private final String nsB = "stasis-mig-b-" + ProcessHandle.current().pid();
    private final List<String> created = new ArrayList<>();

    @BeforeEach
    void namespaces() throws Exception {
        assertTrue(isRoot(), "needs root to create network namespaces: run the suite as root, as .ci/run does");
        assertTrue(ip("-V") == 0, "needs the ip command: apt-get install iproute2 (.ci/run does)");
        for (String ns : List.of(nsA, nsB)) {
            assertEquals(0, ip("netns", "add", ns));
            created.add(ns);
            assertEquals(0, ip("-n", ns, "link", "set", "lo", "up"));
        }
        assertEquals(0, ip("-n", nsA, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns", nsB));
        assertEquals(0, ip("-n", nsA, "addr", "add", "10.231.0.1/24", "dev", "veth-a"));
        assertEquals(0, ip("-n", nsB, "addr", "add", "10.231.0.2/24", "dev", "veth-b"));
        assertEquals(0, ip("-n", nsA, "link", "set", "veth-a", "up"));
        assertEquals(0, ip("-n", nsB, "link", "set", "veth-b", "up"));
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (String ns : created) {
            ip("netns", "del", ns); // takes its end of the veth pair, and so the pair, with it
        }
    }

    @Test
    void dirtierMovesBetweenTwoNamespacesOverTheVethPair() throws Exception {
        Path key = dir.resolve("psk");
        Files.writeString(key, "netns-test-key-0123456789abcdef\n");
        Files.setPosixFilePermissions(key, PosixFilePermissions.fromString("rw-------"));
        Path socket = dir.resolve("a.sock");
        try (LiveCli source = LiveCli.startWith(List.of("ip", "netns", "exec", nsA), "run", "dirtier", "--cpus", "2", "pages=256", "report=20",
                "--api-socket", socket.toString());
             LiveCli dest = LiveCli.startWith(List.of("ip", "netns", "exec", nsB), "migrate", "receive", "--listen", "10.231.0.2:7411",
                     "--psk-file", key.toString())) {
            assertNotNull(source.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 100, 0, Duration.ofSeconds(30)), source.output());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!dest.output().contains("waiting for a migration")) {
                assertTrue(dest.isAlive() && System.nanoTime() < deadline, dest.output());
                Thread.sleep(50);
            }
            CliProcess send = CliProcess.run(List.of(), "migrate", "send", "--api-socket", socket.toString(), "--to", "10.231.0.2:7411",
                    "--psk-file", key.toString(), "--connections", "2");
            assertEquals(0, send.status(), send.out() + send.err() + "\n--- destination ---\n" + dest.output());
            assertTrue(send.out().startsWith("migrated to /10.231.0.2:7411"), send.out());
            assertEquals(0, source.awaitExit(Duration.ofSeconds(10)), source.output());
            assertTrue(dest.output().contains("source /10.231.0.1:"), "the source came over the veth pair:\n" + dest.output());
            for (int cpu = 0; cpu < 2; cpu++) {
                String c = String.valueOf(cpu);
                int target = MigrateCliTest.lastRound(source.lines(), cpu) + 100;
                assertNotNull(dest.await(GuestLines.DIRTIER_OK, m -> m.group(3).equals(c) && Integer.parseInt(m.group(1)) >= target, 0, Duration.ofSeconds(30)),
                        dest.output());
            }
            assertNull(dest.await(GuestLines.DIRTIER_FAIL, m -> true, 0, Duration.ZERO), dest.output());
        }
    }

    private static boolean isRoot() {
        try {
            Process p = new ProcessBuilder("id", "-u").start();
            String out = new String(p.getInputStream().readAllBytes()).strip();
            return p.waitFor() == 0 && out.equals("0");
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    private static int ip(String... args) throws Exception {
        List<String> command = new ArrayList<>();
        command.add("ip");
        command.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            int status = p.waitFor();
            if (status != 0 && !args[0].equals("-V")) {
                System.err.println("ip " + String.join(" ", args) + ": " + out.strip());
            }
            return status;
        } catch (IOException e) {
            return -1;
        }
    }
}
