package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Encoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * After a PSK handshake every frame carries a MAC under a per-connection key: a man in the middle who
 * alters, replays or drops a frame is caught at the next frame. Source → proxy → destination, where the
 * proxy forwards the source's bytes as a test function rewrites them, one write at a time.
 */
class FrameMacTest {
    /** Relays source → destination through {@code rewrite} (given each chunk and the count of bytes before it). */
    static final class Proxy implements AutoCloseable {
        final ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        final LinkedBlockingQueue<byte[]> chunks = new LinkedBlockingQueue<>();
        volatile Function<byte[], byte[]> rewrite = b -> b;

        Proxy(int destinationPort) throws IOException {
            Thread t = new Thread(() -> {
                try (Socket from = listener.accept(); Socket to = new Socket(InetAddress.getLoopbackAddress(), destinationPort)) {
                    Thread back = new Thread(() -> pump(to, from, b -> b));
                    back.setDaemon(true);
                    back.start();
                    pump(from, to, b -> rewrite.apply(b));
                } catch (IOException ignored) {
                    // The test is over.
                }
            });
            t.setDaemon(true);
            t.start();
        }

        static void pump(Socket from, Socket to, Function<byte[], byte[]> f) {
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                byte[] buf = new byte[1 << 16];
                int n;
                while ((n = in.read(buf)) > 0) {
                    out.write(f.apply(java.util.Arrays.copyOf(buf, n)));
                    out.flush();
                }
                to.shutdownOutput();
            } catch (IOException ignored) {
                // One side closed.
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
        }
    }

    /** Handshakes source and destination through a proxy, then runs {@code attack} and returns the destination's outcome. */
    private static Throwable run(Auth auth, Attack attack) throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress()); Proxy proxy = new Proxy(ss.getLocalPort())) {
            CompletableFuture<Channel> dest = CompletableFuture.supplyAsync(() -> {
                try {
                    Channel ch = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger());
                    Handshake.server(ch, auth);
                    return ch;
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (Channel src = new Channel(new Socket(InetAddress.getLoopbackAddress(), proxy.listener.getLocalPort()), FaultHook.NONE, new AtomicInteger())) {
                Handshake.client(src, auth, 0, 0);
                Channel d = dest.get(10, TimeUnit.SECONDS);
                try (d) {
                    attack.run(src, d, proxy);
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            }
        }
    }

    interface Attack {
        void run(Channel source, Channel destination, Proxy proxy) throws Exception;
    }

    private static Encoder round(int r) {
        return new Encoder().varUnsigned(r).varUnsigned(1000 + r);
    }

    private static void assertRound(Frame f, int r) {
        assertEquals(MessageType.ROUND, f.type());
        assertEquals(r, f.decoder().varUnsigned("round", 100));
    }

    @Test
    void untouchedFramesPassBothWaysAndCostTheirTag() throws Exception {
        assertNull(run(HandshakeTest.KEY, (s, d, p) -> {
            long before = s.bytesSent();
            s.send(MessageType.ROUND, round(1));
            assertEquals(5 + 3 + Protocol.TAG_BYTES, s.bytesSent() - before);
            assertRound(d.expect(MessageType.ROUND), 1);
            d.send(MessageType.ROUND, new Encoder().varUnsigned(1));
            assertRound(s.expect(MessageType.ROUND), 1);
            s.send(MessageType.ROUND, round(2));
            assertRound(d.expect(MessageType.ROUND), 2);
        }));
    }

    @Test
    void anAlteredFrameIsRefused() throws Exception {
        Throwable t = run(HandshakeTest.KEY, (s, d, p) -> {
            p.rewrite = b -> {
                b[6] ^= 1; // the payload's second byte: round 1 now announces other pages
                return b;
            };
            s.send(MessageType.ROUND, round(1));
            d.expect(MessageType.ROUND);
        });
        assertInstanceOf(MigrationException.class, t);
        assertEquals(MigrationException.Kind.AUTH, ((MigrationException) t).kind());
        assertTrue(t.getMessage().contains("frame 0 (ROUND) from") && t.getMessage().contains("fails its MAC"), t.getMessage());
    }

    @Test
    void aReplayedFrameIsRefused() throws Exception {
        Throwable t = run(HandshakeTest.KEY, (s, d, p) -> {
            ByteArrayOutputStream first = new ByteArrayOutputStream();
            p.rewrite = b -> {
                first.writeBytes(b);
                return b;
            };
            s.send(MessageType.ROUND, round(1));
            assertRound(d.expect(MessageType.ROUND), 1);
            p.rewrite = b -> first.toByteArray(); // frame 1 replaced by a copy of frame 0, a valid frame with a valid tag
            s.send(MessageType.ROUND, round(2));
            d.expect(MessageType.ROUND);
        });
        assertInstanceOf(MigrationException.class, t);
        assertTrue(t.getMessage().contains("frame 1 (ROUND)") && t.getMessage().contains("fails its MAC"), t.getMessage());
    }

    @Test
    void aDroppedFrameIsNoticedAtTheNext() throws Exception {
        Throwable t = run(HandshakeTest.KEY, (s, d, p) -> {
            int frame = 5 + 3 + Protocol.TAG_BYTES;
            AtomicInteger position = new AtomicInteger();
            p.rewrite = b -> { // drops the stream's first frame, whichever reads carry it
                int at = position.getAndAdd(b.length);
                return at >= frame ? b : java.util.Arrays.copyOfRange(b, Math.min(b.length, frame - at), b.length);
            };
            s.send(MessageType.ROUND, round(1));
            s.send(MessageType.ROUND, round(2));
            d.expect(MessageType.ROUND);
        });
        assertInstanceOf(MigrationException.class, t);
        assertTrue(t.getMessage().contains("frame 0 (ROUND)") && t.getMessage().contains("fails its MAC"), t.getMessage());
    }

    @Test
    void withoutAKeyFramesCarryNoTag() throws Exception {
        assertNull(run(new Auth.Insecure(), (s, d, p) -> {
            long before = s.bytesSent();
            s.send(MessageType.ROUND, round(1));
            assertEquals(5 + 3, s.bytesSent() - before);
            assertRound(d.expect(MessageType.ROUND), 1);
        }));
    }
}
