package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The gate tells a warm-up that someone is at the door as soon as a connection is accepted, before its handshake; the
 * stranger is refused all the same and the source after it admitted.
 */
class HandshakeGateTest {
    @Test
    void knockedAtTheFirstConnectionEvenAStrangersAndAdmitsOnlyAHandshake() throws Exception {
        List<String> log = new CopyOnWriteArrayList<>();
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             HandshakeGate gate = new HandshakeGate(server, new Auth.Insecure(), FaultHook.NONE, new AtomicInteger(), log::add,
                     HandshakeGate.Limits.DEFAULT)) {
            Thread.sleep(300); // longer than the acceptor's poll: nothing came, nothing is said
            assertFalse(gate.knocked());
            try (Socket stranger = new Socket(server.getInetAddress(), server.getLocalPort())) {
                long until = System.nanoTime() + 5_000_000_000L;
                while (!gate.knocked() && System.nanoTime() < until) {
                    Thread.sleep(5);
                }
                assertTrue(gate.knocked(), "a connection that has not said a word yet is a knock");
                stranger.getOutputStream().write(new byte[] {1, 2, 3});
            }
            long until = System.nanoTime() + 5_000_000_000L;
            while (log.isEmpty() && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            assertEquals(1, log.size(), "the stranger refused in one line: " + log);
            assertTrue(log.get(0).startsWith("refused "), log.get(0));
            try (Channel source = new Channel(new Socket(server.getInetAddress(), server.getLocalPort()), FaultHook.NONE, new AtomicInteger())) {
                Handshake.client(source, new Auth.Insecure(), 0, 0);
                HandshakeGate.Admitted a = gate.next(System.nanoTime() + 10_000_000_000L, "the source");
                assertEquals(0, a.hello().session(), "the source that shook hands is admitted, asking for a new session");
                a.channel().close();
            }
        }
    }
}
