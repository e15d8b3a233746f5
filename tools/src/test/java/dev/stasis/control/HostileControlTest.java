package dev.stasis.control;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.FileKind;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A running VM's control socket against requests that break its schema, and snapshot targets that are not
 * regular files: each answered with one error line, nothing run, nothing written, the VM running on.
 */
@RequiresKvm
class HostileControlTest {
    @TempDir
    Path dir;
    private Machine machine;
    private ControlServer server;
    private Path socket;

    @BeforeEach
    void startVm() throws Exception {
        machine = Machine.create(VmConfig.of(32 << 20, 1), OutputStream.nullOutputStream());
        machine.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
        machine.start();
        socket = dir.resolve("vm.sock");
        server = ControlServer.start(socket, VmControl.handlers(machine));
    }

    @AfterEach
    void stopVm() {
        server.close();
        machine.close();
    }

    @Test
    void theCasesOfTheIssueAreEachRefusedInOneLine() throws Exception {
        String p = "\"path\":\"" + dir.resolve("a.stasis") + "\"";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("{\"command\":\"snapshot\",\"path\":1}", "snapshot: \"path\" must be a non-empty string, got 1");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"exit\":2}", "snapshot: \"exit\" must be true or false, got 2");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"exit\":\"yes\"}", "snapshot: \"exit\" must be true or false, got \"yes\"");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"level\":\"x\"}", "snapshot: \"level\" must be an integer from -7 to 19, got \"x\"");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"threads\":\"4\"}", "snapshot: \"threads\" must be an integer from 1 to 64, got \"4\"");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"threads\":1.9}", "snapshot: \"threads\" must be an integer from 1 to 64, got 1.9");
        cases.put("{\"command\":\"snapshot\"," + p + ",\"threads\":8589934592}", "snapshot: \"threads\" must be an integer from 1 to 64, got 8589934592");
        cases.put("{\"command\":\"status\",\"command\":\"stop\"}", "duplicate key \"command\" in the request");
        cases.put("{\"command\":\"status\"} {\"command\":\"stop\"}", "text after the request's JSON object (one request per line)");
        cases.put("{\"command\":\"stop\",\"now\":true}", "unknown key \"now\" in a stop request; it takes none");
        cases.put("{\"command\":\"snapshot\",\"path\":\"/\"}", "cannot write a snapshot to /: it is a directory; a snapshot only creates or replaces a regular file");
        cases.put("{\"command\":\"snapshot\",\"path\":\"/dev/full\"}", "cannot write a snapshot to /dev/full: it is a character device; a snapshot only creates or replaces a regular file");
        try (RawClient c = new RawClient(socket)) {
            for (var e : cases.entrySet()) {
                JsonNode a = c.call(e.getKey());
                assertFalse(a.path("ok").asBoolean(true), e.getKey());
                assertEquals(e.getValue(), a.path("error").asText(), e.getKey());
            }
            assertEquals("running", c.call("{\"command\":\"status\"}").path("result").path("state").asText());
        }
        assertEquals(FileKind.CHARACTER_DEVICE, FileKind.of(Path.of("/dev/full")));
        assertFalse(Files.exists(Path.of("1")), "\"path\":1 wrote nothing in the working directory");
        assertNoSnapshotWritten();
    }

    @Test
    void randomBadRequestsFromSeveralClientsAreAllRefusedAndTheVmRunsOn() throws Exception {
        long seed = System.nanoTime();
        int clients = 4;
        int each = 100;
        List<CompletableFuture<Run>> runs = new ArrayList<>();
        for (int k = 0; k < clients; k++) {
            Random r = new Random(seed + k);
            runs.add(CompletableFuture.supplyAsync(() -> {
                List<String> problems = new ArrayList<>();
                int answered = 0;
                try (RawClient c = new RawClient(socket)) {
                    for (int i = 0; i < each; i++) {
                        HostileRequests.Bad bad = HostileRequests.next(r, dir);
                        c.send(bad.line());
                        String line = c.readLine();
                        JsonNode a = line == null ? null : ControlServer.json().readTree(line);
                        if (a == null || a.path("ok").asBoolean(true) || a.path("error").asText().isBlank()
                                || a.path("error").asText().contains("Exception") || line.contains("\\n")) {
                            problems.add(bad.why() + ": " + bad.text() + " -> " + line);
                        } else {
                            answered++;
                        }
                    }
                } catch (Exception e) {
                    problems.add("client failed: " + e);
                }
                return new Run(answered, problems);
            }));
        }
        int tried = 0;
        for (var run : runs) {
            Run result = run.get(60, TimeUnit.SECONDS);
            tried += result.refused();
            assertEquals(List.of(), result.problems(), "seed " + seed);
        }
        assertEquals(clients * each, tried);
        assertEquals("running", ControlClient.call(socket, ControlClient.request("status")).path("state").asText());
        assertFalse(machine.vm().isStopped());
        assertNoSnapshotWritten();
    }

    @Test
    void aSnapshotWhoseClientGaveUpWhileAMigrationHeldTheVmIsNeverWritten() throws Exception {
        Path abandoned = dir.resolve("abandoned.stasis");
        try (java.net.ServerSocket mute = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             RawClient migrating = new RawClient(socket)) {
            // A destination that accepts and never answers: the migration holds the VM's commands until it is closed.
            migrating.send("{\"command\":\"migrate\",\"to\":\"127.0.0.1:" + mute.getLocalPort() + "\",\"insecure\":true}");
            try (java.net.Socket held = mute.accept()) {
                try (RawClient quitter = new RawClient(socket)) {
                    quitter.send("{\"command\":\"snapshot\",\"path\":\"" + abandoned + "\"}");
                    try (RawClient watcher = new RawClient(socket)) {
                        JsonNode status = watcher.call("{\"command\":\"status\"}").path("result");
                        assertEquals("running", status.path("state").asText(), "status answers while a migration holds the VM");
                        assertTrue(status.path("busy").asText().startsWith("migrate for client "), status.toString());
                    }
                    Thread.sleep(200); // the snapshot is queued behind the migration
                } // the snapshot's client gives up...
                // ...and is seen gone (its reader notices within milliseconds; a loaded CI host was slower than the
                // migration's end when both came at once) before the destination hangs up, ending the migration.
                Thread.sleep(500);
            }
            JsonNode failed = migrating.answer();
            assertFalse(failed.path("ok").asBoolean(true), failed.toString());
        }
        Thread.sleep(500);
        assertFalse(Files.exists(abandoned), "the abandoned snapshot was cancelled, not written once the VM was free");
        assertEquals("running", ControlClient.call(socket, ControlClient.request("status")).path("state").asText());
    }

    /** One client's run: requests refused with one clean error line, and anything else that happened. */
    private record Run(int refused, List<String> problems) {}

    private void assertNoSnapshotWritten() throws Exception {
        try (var files = Files.list(dir)) {
            assertEquals(List.of(socket), files.toList(), "only the socket is in " + dir);
        }
    }
}
