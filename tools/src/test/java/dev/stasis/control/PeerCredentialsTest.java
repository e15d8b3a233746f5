package dev.stasis.control;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.stasis.cli.CliProcess;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Another local user (nobody, through setpriv) against a VM's control socket: refused by its credentials
 * even where the file mode would let it in, and never able to connect while VMs start under umask 000.
 * Needs root (to become nobody) and perl (the other user's client); skipped without them.
 */
class PeerCredentialsTest {
    /** Connects {@code ARGV[0]} for {@code ARGV[1]} seconds as often as it can; prints outcome counts and the first line read. */
    private static final String PROBE = """
            use Socket; my ($path, $secs) = @ARGV; my %n; my $first = ""; my $end = time + $secs;
            while (1) {
              socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!";
              if (connect($s, pack_sockaddr_un($path))) { $n{connected}++; my $l = <$s>; $first = $l if defined $l && !$first; }
              else { $n{$!{EACCES} ? "EACCES" : $!{ENOENT} ? "ENOENT" : $!{ECONNREFUSED} ? "ECONNREFUSED" : "errno" . (0 + $!)}++; }
              close $s; last if time >= $end;
            }
            print join(" ", map { "$_=$n{$_}" } sort keys %n), "\\n", $first;
            """;

    @TempDir
    Path dir;

    @BeforeEach
    void needsRootSetprivAndPerl() throws Exception {
        assumeTrue("root".equals(System.getProperty("user.name")), "needs root to run a client as nobody");
        assumeTrue(new File("/usr/bin/setpriv").canExecute() && CliProcess.exec(null, List.of("perl", "-MSocket", "-e", "1")).status() == 0,
                "needs setpriv and perl");
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx")); // like /tmp: others may reach the socket
    }

    @Test
    void anotherUserIsRefusedByCredentialsEvenWhereTheModeLetsItIn() throws Exception {
        Path socket = dir.resolve("vm.sock");
        List<String> log = new CopyOnWriteArrayList<>();
        try (ControlServer server = ControlServer.bind(socket, ControlServer.Limits.DEFAULT, log::add)) {
            server.serve(List.of(Command.reading("status", RequestSchema.of(), r -> ControlServer.json().createObjectNode())));
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(socket)));
            CliProcess denied = asNobody(socket, 0);
            assertTrue(denied.out().startsWith("EACCES=1"), "the mode keeps nobody out: " + denied);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-rw-rw-")); // an admin's mistake
            CliProcess refused = asNobody(socket, 0);
            assertTrue(refused.out().startsWith("connected=1"), refused.toString());
            assertTrue(refused.out().contains("\"ok\":false,\"error\":\"this VM's control socket serves only root, not nobody\""), refused.toString());
            assertTrue(log.stream().anyMatch(l -> l.matches("refused client \\d+ \\(nobody\\): this VM's control socket serves only root, not nobody")),
                    String.join("\n", log));
            try (RawClient root = new RawClient(socket)) {
                assertTrue(root.call("{\"command\":\"status\"}").path("ok").asBoolean(), "the VM's own user is served");
            }
        }
    }

    @Test
    void underUmask000NobodyNeverConnectsWhileSocketsAreCreated() throws Exception {
        Path socket = dir.resolve("vm.sock");
        int cycles = 150;
        List<String> command = new ArrayList<>(List.of("sh", "-c", "umask 000; exec \"$0\" \"$@\"",
                System.getProperty("java.home") + "/bin/java", "-cp", System.getProperty("java.class.path"),
                BindLoop.class.getName(), socket.toString(), String.valueOf(cycles)));
        Process binder = new ProcessBuilder(command).redirectErrorStream(true).start();
        CliProcess probe = asNobody(socket, 4);
        String out = new String(binder.getInputStream().readAllBytes());
        assertEquals(0, binder.waitFor(), out);
        assertTrue(out.contains("bound " + cycles + " times"), out);
        Map<String, Integer> counts = counts(probe.out());
        assertEquals(0, counts.getOrDefault("connected", 0), "nobody got in: " + probe);
        assertTrue(counts.getOrDefault("EACCES", 0) > 0, "nobody met the socket and its mode kept it out: " + probe);
    }

    /** Binds and closes a control socket {@code args[1]} times at {@code args[0]} (in a child with umask 000). */
    public static final class BindLoop {
        public static void main(String[] args) throws Exception {
            Path socket = Path.of(args[0]);
            int n = Integer.parseInt(args[1]);
            for (int i = 0; i < n; i++) {
                try (ControlServer s = ControlServer.bind(socket, ControlServer.Limits.DEFAULT, line -> System.out.println(line))) {
                    String mode = PosixFilePermissions.toString(Files.getPosixFilePermissions(socket));
                    if (!mode.equals("rw-------")) {
                        throw new AssertionError("socket mode " + mode);
                    }
                    Thread.sleep(5);
                }
            }
            System.out.println("bound " + n + " times");
        }
    }

    private static CliProcess asNobody(Path socket, int seconds) throws Exception {
        return CliProcess.exec(null, List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "perl", "-e", PROBE,
                socket.toString(), String.valueOf(seconds)));
    }

    private static Map<String, Integer> counts(String out) {
        Map<String, Integer> m = new java.util.HashMap<>();
        for (String kv : out.lines().findFirst().orElse("").split(" ")) {
            if (kv.contains("=")) {
                m.put(kv.substring(0, kv.indexOf('=')), Integer.parseInt(kv.substring(kv.indexOf('=') + 1)));
            }
        }
        return m;
    }
}
