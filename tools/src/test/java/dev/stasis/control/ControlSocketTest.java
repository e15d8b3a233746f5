package dev.stasis.control;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.vm.VmConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The control socket: answers, errors, interim progress lines, and a stale socket file left by a dead VMM. */
class ControlSocketTest {
    @TempDir
    Path dir;

    @Test
    void progressLinesComeBeforeTheAnswerAndErrorsAreAnswersToo() throws Exception {
        Path socket = dir.resolve("c.sock");
        List<Command> handlers = List.of(
                Command.reading("count", RequestSchema.of(), request -> {
                    var sink = ControlServer.progressSink();
                    Thread other = new Thread(() -> sink.accept(ControlServer.json().createObjectNode().put("done", 1))); // any thread
                    other.start();
                    other.join();
                    sink.accept(ControlServer.json().createObjectNode().put("done", 2));
                    return ControlServer.json().createObjectNode().put("n", 2);
                }),
                Command.reading("fail", RequestSchema.of(), request -> {
                    throw new IllegalStateException("no such thing");
                }));
        try (ControlServer server = ControlServer.start(socket, handlers)) {
            List<Long> seen = new ArrayList<>();
            JsonNode r = ControlClient.call(socket, ControlClient.request("count"), e -> seen.add(e.path("done").asLong()));
            assertEquals(List.of(1L, 2L), seen);
            assertEquals(2, r.path("n").asInt());
            IOException e = assertThrows(IOException.class, () -> ControlClient.call(socket, ControlClient.request("fail")));
            assertEquals("no such thing", e.getMessage());
            IOException unknown = assertThrows(IOException.class, () -> ControlClient.call(socket, ControlClient.request("dance")));
            assertTrue(unknown.getMessage().contains("unknown command 'dance'; known: count, fail"), unknown.getMessage());
        }
        assertFalse(Files.exists(socket), "closing removes the socket file");
    }

    @Test
    void aLiveSocketIsRefusedAndAStaleOneReplaced() throws Exception {
        Path socket = dir.resolve("c.sock");
        try (ControlServer first = ControlServer.start(socket, List.of())) {
            IOException e = assertThrows(IOException.class, () -> ControlServer.start(socket, List.of()));
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
        // A socket file nobody listens on (as a killed VMM leaves it) is replaced.
        var stale = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX);
        stale.bind(java.net.UnixDomainSocketAddress.of(socket));
        stale.close();
        assertTrue(Files.exists(socket));
        try (ControlServer again = ControlServer.start(socket, List.of())) {
            assertEquals(socket, again.path());
        }
    }

    @Test
    @RequiresKvm
    void aSnapshotAskedWithProgressReportsHowFarTheVmGot() throws Exception {
        Path socket = dir.resolve("vm.sock");
        try (Machine m = Machine.create(VmConfig.of(64 << 20, 1), OutputStream.nullOutputStream())) {
            m.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
            m.start();
            try (ControlServer server = ControlServer.start(socket, VmControl.handlers(m))) {
                List<JsonNode> events = new ArrayList<>();
                JsonNode r = ControlClient.call(socket, ControlClient.request("snapshot")
                        .put("path", dir.resolve("a.stasis").toString()).put("progress", true), events::add);
                assertFalse(events.isEmpty(), "at least the final progress line");
                JsonNode last = events.get(events.size() - 1);
                assertEquals(64L << 20, last.path("total").asLong());
                assertEquals(last.path("total").asLong(), last.path("done").asLong(), "the last event is the whole of RAM");
                assertTrue(r.path("bytes").asLong() > 0);
                assertEquals("running", ControlClient.call(socket, ControlClient.request("status")).path("state").asText());
            }
        }
    }
}
