package dev.stasis.migrate.protocol;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.EnumSet;
import javax.crypto.Mac;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.crypto.spec.SecretKeySpec;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One connection of a migration session, as frames: {@code u8 type, u32 length (little-endian), payload}.
 * A frame's type is checked against what the caller expects and its length against that type's maximum
 * before its payload is read, and the payload goes
 * into one buffer per channel that grows only to that bound. Reads time out (a peer that vanished without
 * closing is a broken link, not a hang). Not thread-safe: one reader and one writer thread at most.
 */
public final class Channel implements AutoCloseable {
    public static final int READ_TIMEOUT_MILLIS = 30_000;
    private static final Set<MessageType> ANY = EnumSet.allOf(MessageType.class);

    /** The TCP socket, or the TLS socket over it once {@link #startTls} ran (closing either ends the connection). */
    private volatile Socket socket;
    private final Socket tcp;
    private DataInputStream in;
    private OutputStream out;
    private final String peer;
    private final FaultHook hook;
    private final AtomicInteger messages;
    /** Frame headers and sequence numbers, one set per direction: a reader and a writer thread run at once. */
    private final byte[] header = new byte[5];
    private final byte[] sendHeader = new byte[5];
    private byte[] buffer = new byte[4096];
    private long bytesSent;
    private volatile int readTimeoutMillis = READ_TIMEOUT_MILLIS;
    /** Per-direction frame MACs once {@link #protect} was called (PSK sessions); null before and without a key. */
    private Mac sendMac;
    private Mac receiveMac;
    private long sendSeq;
    private long receiveSeq;
    private final byte[] seqBytes = new byte[8];
    private final byte[] sendSeqBytes = new byte[8];
    private final byte[] receivedTag = new byte[Protocol.TAG_BYTES];

    /** @param messages the session's message counter, shared by its channels, for the fault hook */
    public Channel(Socket socket, FaultHook hook, AtomicInteger messages) throws IOException {
        this.socket = socket;
        this.tcp = socket;
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(READ_TIMEOUT_MILLIS);
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 64 << 10));
        this.out = new BufferedOutputStream(socket.getOutputStream(), 64 << 10);
        this.peer = String.valueOf(socket.getRemoteSocketAddress());
        this.hook = hook;
        this.messages = messages;
    }

    public String peer() {
        return peer;
    }

    /**
     * Runs a TLS 1.3 handshake over this connection, before any frame (mutual authentication: the destination
     * requires the source's certificate; the source checks the destination's against {@code peerHost}, as a browser
     * would: the name or address it was given, never a reverse lookup); every frame goes through TLS from here on.
     * Refused by name: a wrong, expired or untrusted certificate, another host name, an older TLS version.
     */
    public void startTls(SSLContext context, boolean client) {
        Socket plain = socket;
        try {
            String host = ((java.net.InetSocketAddress) plain.getRemoteSocketAddress()).getHostString();
            SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, host, plain.getPort(), true);
            tls.setUseClientMode(client);
            SSLParameters p = tls.getSSLParameters();
            p.setProtocols(new String[] {"TLSv1.3"});
            if (client) {
                p.setEndpointIdentificationAlgorithm("HTTPS"); // the certificate must name the host connected to
            } else {
                p.setNeedClientAuth(true);
            }
            tls.setSSLParameters(p);
            tls.setSoTimeout(readTimeoutMillis);
            socket = tls;
            tls.startHandshake();
            in = new DataInputStream(new BufferedInputStream(tls.getInputStream(), 64 << 10));
            out = new BufferedOutputStream(tls.getOutputStream(), 64 << 10);
        } catch (IOException e) {
            throw new MigrationException(Kind.AUTH, "TLS handshake with " + peer + " failed: " + TlsFailure.describe(e), e);
        }
    }

    /** The peer's certificate subject once {@link #startTls} ran, else null. */
    public String tlsPeer() {
        if (socket instanceof SSLSocket tls) {
            try {
                return tls.getSession().getPeerPrincipal().getName();
            } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
                return null;
            }
        }
        return null;
    }

    public long bytesSent() {
        return bytesSent;
    }

    public void send(MessageType type, Encoder payload) {
        send(type, payload.toBytes(), null, 0);
    }

    /** Sends one frame whose payload is {@code head} followed by {@code tail[0, tailLength)}; flushes. */
    public void send(MessageType type, byte[] head, byte[] tail, int tailLength) {
        int length = head.length + tailLength;
        if (length > type.maxPayload) {
            throw new IllegalArgumentException(type + " payload of " + length + " bytes exceeds its limit " + type.maxPayload);
        }
        try {
            byte[] h = sendHeader;
            h[0] = (byte) type.code;
            h[1] = (byte) length;
            h[2] = (byte) (length >>> 8);
            h[3] = (byte) (length >>> 16);
            h[4] = (byte) (length >>> 24);
            out.write(h);
            out.write(head);
            if (tailLength > 0) {
                out.write(tail, 0, tailLength);
            }
            if (sendMac != null) {
                sendMac.update(seq(sendSeq++, sendSeqBytes));
                sendMac.update(h);
                sendMac.update(head);
                sendMac.update(tail == null ? head : tail, 0, tailLength);
                out.write(sendMac.doFinal(), 0, Protocol.TAG_BYTES);
                bytesSent += Protocol.TAG_BYTES;
            }
            out.flush();
            bytesSent += 5 + length;
            hook.after(true, type, messages.getAndIncrement());
        } catch (IOException e) {
            IOException why = pendingAlert(e);
            close();
            throw broken("sending " + type, why);
        }
    }

    /**
     * A write that failed on a TLS connection may have been refused by an alert not read yet (TLS 1.3: the destination
     * checks the source's certificate after the source's side of the handshake ended, and hangs up): read it, briefly,
     * so the error says why rather than "Broken pipe".
     */
    private IOException pendingAlert(IOException e) {
        if (!(socket instanceof SSLSocket) || e instanceof javax.net.ssl.SSLException) {
            return e;
        }
        try {
            socket.setSoTimeout(1000);
            in.read();
        } catch (javax.net.ssl.SSLException alert) {
            return alert;
        } catch (IOException | RuntimeException ignored) {
            // no alert came: the plain failure stands
        }
        return e;
    }

    /** The next frame, of any type; a REFUSE from the peer becomes a {@link MigrationException} carrying its reason. */
    public Frame receive() {
        return receive(ANY);
    }

    /**
     * The next frame, whose type must be one of {@code allowed} (or REFUSE, which becomes a
     * {@link MigrationException} carrying the peer's reason). The type and the announced length are checked
     * against {@code allowed} and that type's maximum before a byte of the payload is read or a buffer
     * grown: an unauthenticated peer announcing a PAGES frame where HELLO is due costs no more than a HELLO.
     */
    public Frame receive(Set<MessageType> allowed) {
        MessageType type;
        int length;
        try {
            in.readFully(header);
            type = MessageType.of(header[0] & 0xff);
            length = (header[1] & 0xff) | (header[2] & 0xff) << 8 | (header[3] & 0xff) << 16 | (header[4] & 0xff) << 24;
            if (type == null) {
                throw protocolError("unknown message type " + (header[0] & 0xff) + " from " + peer + " (not a stasis migration peer, or another protocol version)");
            }
            if (type != MessageType.REFUSE && !allowed.contains(type)) {
                throw protocolError("expected " + describe(allowed) + " from " + peer + ", got " + type
                        + " (announcing " + Integer.toUnsignedString(length) + " bytes; refused before reading it)");
            }
            if (length < 0 || length > type.maxPayload) {
                throw protocolError(type + " from " + peer + " announces " + Integer.toUnsignedString(length) + " bytes, over its limit of " + type.maxPayload);
            }
            if (buffer.length < length) {
                buffer = new byte[Math.max(length, Math.min(type.maxPayload, buffer.length * 2))];
            }
            in.readFully(buffer, 0, length);
            if (receiveMac != null) {
                in.readFully(receivedTag);
                receiveMac.update(seq(receiveSeq, seqBytes));
                receiveMac.update(header);
                receiveMac.update(buffer, 0, length);
                byte[] expected = Arrays.copyOf(receiveMac.doFinal(), Protocol.TAG_BYTES);
                if (!MessageDigest.isEqual(expected, receivedTag)) {
                    close();
                    throw new MigrationException(Kind.AUTH, "frame " + receiveSeq + " (" + type + ") from " + peer
                            + " fails its MAC: it was altered, injected, replayed or reordered in flight");
                }
                receiveSeq++;
            }
            hook.after(false, type, messages.getAndIncrement());
        } catch (IOException e) {
            close();
            throw broken("waiting for the peer's next message", e);
        }
        Frame f = new Frame(type, buffer, length);
        if (type == MessageType.REFUSE) {
            close();
            String reason;
            try {
                reason = f.read(d -> d.string("reason", Protocol.MAX_REASON_BYTES));
            } catch (SnapshotFormatException e) {
                reason = "(unreadable reason)";
            }
            throw new MigrationException(reason.startsWith("authentication") ? Kind.AUTH : Kind.REFUSED, "the peer refused: " + reason);
        }
        return f;
    }

    /** The next frame, which must be of {@code type}; any other is refused before its payload is read. */
    public Frame expect(MessageType type) {
        return receive(EnumSet.of(type));
    }

    /**
     * The next frame, which must be of {@code type}, decoded by {@code body}, which must use its payload up
     * exactly. A payload that is short, malformed or has bytes left over is refused (the peer is told why)
     * and thrown as a {@link Kind#PROTOCOL} error naming the frame.
     */
    public <T> T expect(MessageType type, java.util.function.Function<Decoder, T> body) {
        Frame f = expect(type);
        try {
            return f.read(body);
        } catch (SnapshotFormatException e) {
            refuse("bad " + type + ": " + e.getMessage());
            throw new MigrationException(Kind.PROTOCOL, "bad " + type + " from " + peer + ": " + e.getMessage(), e);
        }
    }

    /** The next frame, which must be of {@code type} and carry no payload (READY, COMMIT, STARTED, ...). */
    public void expectEmpty(MessageType type) {
        expect(type, Frame.NO_BODY);
    }

    /**
     * From now on every frame this side sends carries a {@link Protocol#TAG_BYTES}-byte tag,
     * HMAC-SHA256(sendKey, u64 sequence number ‖ header ‖ payload) cut to that length, after its payload, and
     * every frame received must carry the right one under {@code receiveKey} (else the connection is closed
     * with an AUTH error). Sequence numbers count the frames of each direction from 0, so a dropped, replayed
     * or reordered frame fails too. Called by the handshake once both sides proved the key.
     */
    public void protect(byte[] sendKey, byte[] receiveKey) {
        sendMac = hmac(sendKey);
        receiveMac = hmac(receiveKey);
    }

    private static Mac hmac(byte[] key) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(key, "HmacSHA256"));
            return m;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
        }
    }

    private static byte[] seq(long n, byte[] into) {
        for (int i = 0; i < 8; i++) {
            into[i] = (byte) (n >>> (8 * i));
        }
        return into;
    }

    /** Sets how long a read may wait (the default is {@link #READ_TIMEOUT_MILLIS}), e.g. shorter for a handshake. */
    public void setReadTimeout(int millis) {
        try {
            socket.setSoTimeout(millis);
            readTimeoutMillis = millis;
        } catch (IOException e) {
            close();
            throw broken("setting its read timeout", e);
        }
    }

    private static String describe(Set<MessageType> allowed) {
        return allowed.size() == 1 ? allowed.iterator().next().toString() : "one of " + allowed;
    }

    /** Tells the peer why this side gives up (best effort: the link may be gone), then closes. */
    public void refuse(String reason) {
        byte[] r = reason.getBytes(StandardCharsets.UTF_8);
        String cut = r.length > Protocol.MAX_REASON_BYTES ? reason.substring(0, Protocol.MAX_REASON_BYTES / 4) : reason;
        try {
            send(MessageType.REFUSE, new Encoder().string(cut));
        } catch (RuntimeException ignored) {
            // The peer is gone; it learns nothing more from us.
        }
        close();
    }

    private MigrationException broken(String doing, IOException e) {
        if (TlsFailure.isRefusal(e)) {
            // TLS 1.3 checks the source's certificate after the source's side of the handshake ended: the refusal
            // arrives as an alert on the first read. Other TLS errors (a reset wrapped by the TLS socket) are link breaks.
            return new MigrationException(Kind.AUTH, "TLS with " + peer + " failed while " + doing + ": " + TlsFailure.describe(e), e);
        }
        String what = e instanceof EOFException ? "the peer closed the connection"
                : e instanceof SocketTimeoutException ? "no answer for " + readTimeoutMillis / 1000 + " s"
                : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new MigrationException(Kind.LINK, "link to " + peer + " broke while " + doing + ": " + what, e);
    }

    public MigrationException protocolError(String message) {
        close();
        return new MigrationException(Kind.PROTOCOL, message);
    }

    public boolean isClosed() {
        return tcp.isClosed();
    }

    /** Closes the TCP socket itself, from any thread: a TLS socket's own close could wait on a handshake in progress. */
    @Override
    public void close() {
        try {
            tcp.close();
        } catch (IOException ignored) {
            // Nothing to do about a socket that fails to close.
        }
    }
}
