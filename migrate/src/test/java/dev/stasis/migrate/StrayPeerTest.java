package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** A destination that meets strangers before its source refuses each in one log line and goes on listening. */
@RequiresKvm
class StrayPeerTest {
    @Test
    void garbageAWrongKeyAndAnEarlyPagesHeaderDoNotEndTheWait() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, Map.of("pages", "64", "report", "20"));
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            List<String> log = new CopyOnWriteArrayList<>();
            var incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY), log::add);
            try (Socket s = new Socket(dest.address.getAddress(), dest.address.getPort())) { // a health check or scanner
                s.getOutputStream().write("GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                assertClosed(s);
            }
            try (Channel ch = new Channel(new Socket(dest.address.getAddress(), dest.address.getPort()), FaultHook.NONE, new AtomicInteger())) {
                var e = assertThrows(MigrationException.class, () -> Handshake.client(ch, HandshakeTest.OTHER, 0, 0));
                assertEquals(MigrationException.Kind.AUTH, e.kind(), e.getMessage());
            }
            try (Socket s = new Socket(dest.address.getAddress(), dest.address.getPort())) {
                int length = MessageType.PAGES.maxPayload;
                s.getOutputStream().write(new byte[] {(byte) MessageType.PAGES.code, (byte) length, (byte) (length >>> 8), (byte) (length >>> 16), (byte) (length >>> 24)});
                assertEquals(-1, s.getInputStream().read(), "refused and closed without waiting for the payload");
            }
            try (Channel ch = new Channel(new Socket(dest.address.getAddress(), dest.address.getPort()), FaultHook.NONE, new AtomicInteger())) {
                // Holds the key but asks to join a session that does not exist: refused, not fatal either.
                var e = assertThrows(MigrationException.class, () -> {
                    Handshake.client(ch, InProcessMigrationTest.KEY, 0x42, 1);
                    ch.expect(MessageType.ACCEPT);
                });
                assertTrue(e.getMessage().contains("no migration session 42 here"), e.getMessage());
            }
            assertFalse(incoming.isDone(), "still listening");
            var result = MigrationSender.migrate(a.machine(), dest.address, InProcessMigrationTest.options(), l -> { });
            try (Machine b = incoming.get(20, TimeUnit.SECONDS)) {
                assertFalse(b.vm().isStopped());
            }
            assertTrue(result.rounds() >= 2, result.toString());
            List<String> refused = log.stream().filter(l -> l.startsWith("refused ")).toList();
            assertEquals(4, refused.size(), String.join("\n", log));
            // Handshakes run side by side, so the lines may come in any order.
            assertTrue(refused.stream().anyMatch(l -> l.contains("not a stasis migration peer")), refused.toString());
            assertTrue(refused.stream().anyMatch(l -> l.contains("authentication failed: the source")), refused.toString());
            assertTrue(refused.stream().anyMatch(l -> l.contains("expected HELLO") && l.contains("got PAGES") && l.contains("refused before reading it")), refused.toString());
            assertTrue(refused.stream().anyMatch(l -> l.contains("no migration session 42 here")), refused.toString());
            assertTrue(refused.stream().allMatch(l -> l.endsWith("still waiting for the source")), refused.toString());
        }
    }

    @Test
    void theAcceptTimeoutStillBoundsTheWholeWait() throws Exception {
        try (Loopback dest = new Loopback()) {
            var incoming = dest.receive(OutputStream.nullOutputStream(),
                    new MigrationReceiver.Options(InProcessMigrationTest.KEY, Duration.ofMillis(1500), FaultHook.NONE));
            try (Socket s = new Socket(dest.address.getAddress(), dest.address.getPort())) {
                s.getOutputStream().write(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
                assertClosed(s);
            }
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("the source did not connect and authenticate in time"), e.getCause().getMessage());
        }
    }

    /** The destination hung up: end of stream, or a reset when it closed with our bytes unread. */
    static void assertClosed(Socket s) throws java.io.IOException {
        s.setSoTimeout(10_000);
        try {
            assertEquals(-1, s.getInputStream().read(), "refused and closed");
        } catch (java.net.SocketException e) {
            assertTrue(String.valueOf(e.getMessage()).contains("reset"), e.toString());
        }
    }
}
