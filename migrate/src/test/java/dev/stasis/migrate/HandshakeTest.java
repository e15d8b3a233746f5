package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Encoder;
import java.io.DataInputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The handshake and framing against good, wrong and hostile peers; no KVM needed. */
class HandshakeTest {
    static final Auth KEY = new Auth.Psk("the-right-key-0123456789".getBytes(StandardCharsets.UTF_8));
    static final Auth OTHER = new Auth.Psk("the-wrong-key-0123456789".getBytes(StandardCharsets.UTF_8));

    private static <T> ChannelPair.Outcome<T> run(Function<Channel, T> server, Function<Channel, Object> client) throws Exception {
        return ChannelPair.run(server, client);
    }

    @Test
    void theSameKeyAuthenticatesBothWays() throws Exception {
        var o = run(ch -> Handshake.server(ch, KEY), ch -> {
            Handshake.client(ch, KEY, 0x1234, 3);
            return null;
        });
        assertNull(o.server());
        assertNull(o.client());
        assertEquals(new Handshake.Hello(Protocol.VERSION, 1, 0x1234, 3), o.value());
    }

    @Test
    void aWrongKeyIsRefusedWithTheReasonOnBothSides() throws Exception {
        var o = run(ch -> Handshake.server(ch, KEY), ch -> {
            Handshake.client(ch, OTHER, 0, 0);
            return null;
        });
        assertEquals(MigrationException.Kind.AUTH, ((MigrationException) o.server()).kind());
        assertTrue(o.server().getMessage().contains("authentication failed: the source"), o.server().getMessage());
        assertEquals(MigrationException.Kind.AUTH, ((MigrationException) o.client()).kind());
        assertTrue(o.client().getMessage().contains("the peer refused: authentication failed: the source's key does not match"), o.client().getMessage());
    }

    @Test
    void aDestinationWithoutTheKeyCannotPassItself() throws Exception {
        // A fake destination that accepts any source proof but signs with another key.
        var o = run(ch -> {
            Handshake.Hello h = null;
            try {
                h = Handshake.server(ch, OTHER);
            } catch (MigrationException e) {
                // expected: OTHER's check of the source's proof fails first; a real impostor would skip the check
            }
            return h;
        }, ch -> {
            Handshake.client(ch, KEY, 0, 0);
            return null;
        });
        assertInstanceOf(MigrationException.class, o.client());
        assertEquals(MigrationException.Kind.AUTH, ((MigrationException) o.client()).kind());
    }

    @Test
    void insecureAgainstAKeyIsRefusedByName() throws Exception {
        var o = run(ch -> Handshake.server(ch, KEY), ch -> {
            Handshake.client(ch, new Auth.Insecure(), 0, 0);
            return null;
        });
        assertTrue(o.server().getMessage().contains("authentication mismatch"), o.server().getMessage());
        assertTrue(o.client().getMessage().contains("authentication mismatch: the destination requires a pre-shared key"), o.client().getMessage());
    }

    @Test
    void anotherProtocolVersionIsRefusedOnBothSides() throws Exception {
        var o = run(ch -> Handshake.server(ch, KEY), ch -> {
            ch.send(MessageType.HELLO, new Encoder().raw(Protocol.MAGIC).u32(Protocol.VERSION + 1).u8(1));
            return ch.receive();
        });
        assertEquals(MigrationException.Kind.VERSION, ((MigrationException) o.server()).kind());
        assertTrue(o.server().getMessage().contains("speaks migration protocol version " + (Protocol.VERSION + 1)), o.server().getMessage());
        assertTrue(o.client().getMessage().contains("protocol version " + (Protocol.VERSION + 1) + " is not supported; this destination speaks version " + Protocol.VERSION),
                o.client().getMessage());
    }

    @Test
    void aPeerThatIsNotStasisIsRefused() throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Object> s = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
                    return Handshake.server(ch, KEY);
                } catch (java.io.IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (Socket raw = new Socket(ss.getInetAddress(), ss.getLocalPort())) {
                raw.getOutputStream().write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                ExecutionException e = assertThrows(ExecutionException.class, () -> s.get(10, TimeUnit.SECONDS));
                assertTrue(e.getCause().getMessage().contains("not a stasis migration peer"), e.getCause().getMessage());
            }
        }
    }

    @Test
    void aLengthOverTheLimitIsRefusedBeforeAllocating() throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Object> s = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
                    return ch.receive();
                } catch (java.io.IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (Socket raw = new Socket(ss.getInetAddress(), ss.getLocalPort())) {
                OutputStream out = raw.getOutputStream();
                out.write(new byte[] {(byte) MessageType.PAGES.code, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0x7f}); // 2 GiB
                out.flush();
                ExecutionException e = assertThrows(ExecutionException.class, () -> s.get(10, TimeUnit.SECONDS));
                assertEquals(MigrationException.Kind.PROTOCOL, ((MigrationException) e.getCause()).kind());
                assertTrue(e.getCause().getMessage().contains("over its limit of " + MessageType.PAGES.maxPayload), e.getCause().getMessage());
                assertEquals(-1, new DataInputStream(raw.getInputStream()).read(), "the destination hung up");
            }
        }
    }

    @Test
    void aPagesHeaderWhereHelloIsDueIsRefusedBeforeItsPayloadIsRead() throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<Object> s = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
                    return Handshake.server(ch, KEY);
                } catch (java.io.IOException e) {
                    throw new RuntimeException(e);
                }
            });
            try (Socket raw = new Socket(ss.getInetAddress(), ss.getLocalPort())) {
                // A full-size PAGES header, within PAGES' limit, and no payload: a reader that sized its buffer
                // by the announced type would allocate 16 MiB and then wait for the bytes.
                int length = MessageType.PAGES.maxPayload;
                OutputStream out = raw.getOutputStream();
                out.write(new byte[] {(byte) MessageType.PAGES.code, (byte) length, (byte) (length >>> 8), (byte) (length >>> 16), (byte) (length >>> 24)});
                out.flush();
                ExecutionException e = assertThrows(ExecutionException.class, () -> s.get(10, TimeUnit.SECONDS));
                assertEquals(MigrationException.Kind.PROTOCOL, ((MigrationException) e.getCause()).kind());
                assertTrue(e.getCause().getMessage().contains("expected HELLO from") && e.getCause().getMessage().contains("got PAGES (announcing " + length
                        + " bytes; refused before reading it)"), e.getCause().getMessage());
                assertEquals(-1, new DataInputStream(raw.getInputStream()).read(), "the destination hung up");
            }
        }
    }

    @Test
    void shortKeysAreRefused() {
        MigrationException e = assertThrows(MigrationException.class, () -> new Auth.Psk(new byte[8]));
        assertTrue(e.getMessage().contains("at least 16"));
    }
}
