package dev.stasis.migrate;

import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Encoder;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Hostile peers of a migration destination, one connection each: every way a stranger can behave before
 * the handshake is done, chosen and filled at random. Each reports how long the destination held it and
 * whether it was told why; used by {@code HostileListenerTest} and, for longer runs, by the bench's
 * {@code HostileBench}.
 */
public final class Strangers {
    private Strangers() {}

    public enum Kind {
        /** Connects and says nothing. */
        SILENT,
        /** A valid HELLO, one byte at a time, slowly. */
        DRIP,
        /** Random bytes. */
        GARBAGE,
        /** A frame header of a random type and length, then random bytes. */
        BAD_HEADER,
        /** A HELLO announcing more than its limit. */
        HUGE_LENGTH,
        /** A valid HELLO with one random byte changed. */
        FLIPPED_HELLO,
        /** A valid HELLO, then an AUTH shorter than a proof. */
        SHORT_AUTH,
        /** A valid HELLO, then an AUTH longer than a proof. */
        LONG_AUTH,
        /** A valid HELLO, then 32 random bytes of proof. */
        WRONG_PROOF,
        /** The key holder's correct proof with bytes after it (the payload must be used up exactly). */
        PROOF_PLUS_BYTES,
        /** A HELLO of another protocol version. */
        OTHER_VERSION,
        /** A HELLO with an unknown authentication method. */
        OTHER_METHOD,
        /** A valid HELLO, then silence. */
        HELLO_THEN_SILENCE,
        /** Connects and hangs up at once. */
        HANG_UP
    }

    /**
     * What happened to one stranger.
     *
     * @param held    from connecting to seeing the destination close the connection
     * @param refused the destination sent a REFUSE with a reason before closing
     * @param hung    the destination had not closed it within the patience given
     */
    public record Outcome(Kind kind, Duration held, boolean refused, boolean hung) {}

    /** One stranger of {@code kind} against {@code to}; {@code key} is the destination's PSK (for PROOF_PLUS_BYTES). */
    public static Outcome attack(InetSocketAddress to, Kind kind, Random random, byte[] key, Duration patience) throws IOException {
        long start = System.nanoTime();
        try (Socket s = new Socket()) {
            s.connect(to, 5_000);
            s.setSoTimeout((int) patience.toMillis());
            OutputStream out = s.getOutputStream();
            InputStream in = s.getInputStream();
            byte[] hello = hello(random, Protocol.VERSION, 1);
            boolean sent = true;
            switch (kind) {
                case SILENT -> { }
                case DRIP -> sent = drip(s, frame(MessageType.HELLO.code, hello), patience);
                case GARBAGE -> sent = write(out, bytes(random, 1 + random.nextInt(600)));
                case BAD_HEADER -> {
                    byte[] b = bytes(random, 5 + random.nextInt(64));
                    b[0] = (byte) random.nextInt(256);
                    sent = write(out, b);
                }
                case HUGE_LENGTH -> sent = write(out, header(MessageType.HELLO.code, 1 << (9 + random.nextInt(22))));
                case FLIPPED_HELLO -> {
                    byte[] f = frame(MessageType.HELLO.code, hello);
                    f[random.nextInt(f.length)] ^= (byte) (1 + random.nextInt(255));
                    sent = write(out, f);
                }
                case SHORT_AUTH -> sent = helloThen(out, in, hello, frame(MessageType.AUTH.code, bytes(random, random.nextInt(32))));
                case LONG_AUTH -> sent = helloThen(out, in, hello, frame(MessageType.AUTH.code, bytes(random, 33 + random.nextInt(32))));
                case WRONG_PROOF -> sent = helloThen(out, in, hello, frame(MessageType.AUTH.code, bytes(random, 32)));
                case PROOF_PLUS_BYTES -> {
                    write(out, frame(MessageType.HELLO.code, hello));
                    byte[] theirs = readFrame(in);
                    if (theirs == null) {
                        break;
                    }
                    byte[] proof = proof(key, hello, Arrays.copyOfRange(theirs, 5, theirs.length));
                    byte[] auth = Arrays.copyOf(proof, proof.length + 1 + random.nextInt(31));
                    sent = write(out, frame(MessageType.AUTH.code, auth));
                }
                case OTHER_VERSION -> sent = write(out, frame(MessageType.HELLO.code, hello(random, Protocol.VERSION + 1 + random.nextInt(1000), 1)));
                case OTHER_METHOD -> sent = write(out, frame(MessageType.HELLO.code, hello(random, Protocol.VERSION, 2 + random.nextInt(250))));
                case HELLO_THEN_SILENCE -> sent = write(out, frame(MessageType.HELLO.code, hello));
                case HANG_UP -> {
                    return new Outcome(kind, Duration.ofNanos(System.nanoTime() - start), false, false);
                }
            }
            boolean refused = false;
            boolean hung = false;
            if (sent || !s.isClosed()) {
                try {
                    refused = readToEnd(in);
                } catch (SocketTimeoutException e) {
                    hung = true;
                }
            }
            return new Outcome(kind, Duration.ofNanos(System.nanoTime() - start), refused, hung);
        }
    }

    /** A valid HELLO payload of {@code version} and auth method {@code method}, with a random nonce. */
    static byte[] hello(Random random, int version, int method) {
        return new Encoder().raw(Protocol.MAGIC).u32(version).u8(method).raw(bytes(random, Protocol.NONCE_BYTES)).u64(0).varUnsigned(0).toBytes();
    }

    /** The source's proof, computed as docs/migration-protocol.md defines it (independently of Handshake). */
    static byte[] proof(byte[] key, byte[] sourceHello, byte[] destinationHello) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(("stasis-migrate " + Protocol.VERSION + " source").getBytes(StandardCharsets.US_ASCII));
            mac.update(sourceHello);
            mac.update(destinationHello);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    static byte[] frame(int type, byte[] payload) {
        byte[] f = Arrays.copyOf(header(type, payload.length), 5 + payload.length);
        System.arraycopy(payload, 0, f, 5, payload.length);
        return f;
    }

    static byte[] header(int type, int length) {
        return new byte[] {(byte) type, (byte) length, (byte) (length >>> 8), (byte) (length >>> 16), (byte) (length >>> 24)};
    }

    private static byte[] bytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    /** Sends a HELLO, reads the destination's, then sends {@code next}; false if the destination hung up first. */
    private static boolean helloThen(OutputStream out, InputStream in, byte[] hello, byte[] next) throws IOException {
        return write(out, frame(MessageType.HELLO.code, hello)) && readFrame(in) != null && write(out, next);
    }

    /** One whole frame (header and payload), or null when the connection ends or is not a HELLO. */
    private static byte[] readFrame(InputStream in) throws IOException {
        DataInputStream d = new DataInputStream(in);
        byte[] h = new byte[5];
        try {
            d.readFully(h);
            int length = (h[1] & 0xff) | (h[2] & 0xff) << 8 | (h[3] & 0xff) << 16 | (h[4] & 0xff) << 24;
            if (h[0] != MessageType.HELLO.code || length < 0 || length > MessageType.HELLO.maxPayload) {
                return null;
            }
            byte[] f = Arrays.copyOf(h, 5 + length);
            d.readFully(f, 5, length);
            return f;
        } catch (IOException e) {
            if (e instanceof SocketTimeoutException t) {
                throw t;
            }
            return null;
        }
    }

    /** Writes; false if the destination already closed the connection. */
    private static boolean write(OutputStream out, byte[] b) {
        try {
            out.write(b);
            out.flush();
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Sends {@code b} one byte every 150 ms until done or the destination closes; false if it closed first. */
    private static boolean drip(Socket s, byte[] b, Duration patience) throws IOException {
        long end = System.nanoTime() + patience.toNanos();
        s.setSoTimeout(150);
        try {
            for (byte x : b) {
                if (System.nanoTime() > end) {
                    break;
                }
                s.getOutputStream().write(x);
                try {
                    if (s.getInputStream().read() < 0) {
                        return false; // closed while we dripped
                    }
                } catch (SocketTimeoutException e) {
                    // Nothing from the destination yet: drip on.
                }
            }
            return true;
        } catch (SocketException e) {
            return false;
        } finally {
            s.setSoTimeout((int) patience.toMillis());
        }
    }

    /** Reads until the destination closes; whether it sent a REFUSE frame first. */
    private static boolean readToEnd(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] b = new byte[4096];
        try {
            for (int n; (n = in.read(b)) > 0; ) {
                got.write(b, 0, n);
                if (got.size() > 1 << 20) {
                    break; // a destination that floods us is not closing; let the caller's timing show it
                }
            }
        } catch (SocketException e) {
            // A reset: the destination closed with our bytes unread.
        }
        byte[] all = got.toByteArray();
        for (int i = 0; i + 5 <= all.length; ) {
            if (all[i] == MessageType.REFUSE.code) {
                return true;
            }
            int length = (all[i + 1] & 0xff) | (all[i + 2] & 0xff) << 8 | (all[i + 3] & 0xff) << 16 | (all[i + 4] & 0xff) << 24;
            if (length < 0) {
                break;
            }
            i += 5 + length;
        }
        return false;
    }
}
