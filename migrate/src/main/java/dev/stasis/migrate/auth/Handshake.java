package dev.stasis.migrate.auth;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The start of every connection. The source sends HELLO (magic, version, auth method, nonce, session,
 * connection index); the destination checks magic, version and method, and answers with its own HELLO.
 * With a pre-shared key the source then proves itself first (AUTH = HMAC-SHA256(key, "source" | both
 * HELLOs)), and only then the destination (the same with "destination"), so neither side's proof can be
 * replayed: each covers the other side's fresh nonce. With TLS, the connection's TLS 1.3 handshake comes first
 * (certificates both ways), and HELLO and everything after go through it. Any failure is refused with a reason
 * both sides print.
 */
public final class Handshake {
    private static final SecureRandom RANDOM = new SecureRandom();
    /** An AUTH payload is exactly one HMAC-SHA256: shorter or longer is refused, never read in part. */
    private static final int PROOF_BYTES = 32;

    private Handshake() {}

    /** What the source asked for: a new session (0) or joining {@code session} as data connection {@code index}. */
    public record Hello(int version, int authCode, long session, int index) {}

    /** The source side. */
    public static void client(Channel ch, Auth auth, long session, int index) {
        if (auth instanceof Auth.Tls tls) {
            ch.startTls(tls.context(), true); // before any frame: HELLO already goes encrypted
        }
        byte[] mine = hello(auth, session, index);
        ch.send(MessageType.HELLO, mine, null, 0);
        Frame f = ch.expect(MessageType.HELLO);
        byte[] theirs = Arrays.copyOf(f.data(), f.length());
        Hello h = parse(ch, f, "destination");
        if (h.version() != Protocol.VERSION) {
            ch.refuse("protocol version " + Protocol.VERSION + " is not spoken by the destination (it speaks " + h.version() + ")");
            throw new MigrationException(Kind.VERSION, "the destination " + ch.peer() + " speaks migration protocol version " + h.version() + ", this source " + Protocol.VERSION);
        }
        if (h.authCode() != auth.code()) {
            ch.refuse("authentication mismatch: the source uses " + auth.describe() + ", the destination " + Auth.describe(h.authCode()));
            throw new MigrationException(Kind.AUTH, "authentication mismatch: this source uses " + auth.describe() + ", the destination " + Auth.describe(h.authCode()));
        }
        if (auth instanceof Auth.Psk psk) {
            ch.send(MessageType.AUTH, new Encoder().raw(mac(psk, "source", mine, theirs)));
            byte[] proof = ch.expect(MessageType.AUTH, d -> d.raw(PROOF_BYTES, "destination proof"));
            if (!MessageDigest.isEqual(proof, mac(psk, "destination", mine, theirs))) {
                ch.refuse("authentication failed: the destination's key does not match the source's");
                throw new MigrationException(Kind.AUTH, "authentication failed: the destination " + ch.peer() + " does not hold this key");
            }
            byte[][] keys = frameKeys(psk, mine, theirs);
            ch.protect(keys[0], keys[1]);
        }
    }

    /** The destination side: returns what the authenticated source asked for. */
    public static Hello server(Channel ch, Auth auth) {
        if (auth instanceof Auth.Tls tls) {
            ch.startTls(tls.context(), false);
        }
        Frame f = ch.expect(MessageType.HELLO);
        byte[] theirs = Arrays.copyOf(f.data(), f.length());
        Hello h = parse(ch, f, "source");
        if (h.version() != Protocol.VERSION) {
            ch.refuse("protocol version " + h.version() + " is not supported; this destination speaks version " + Protocol.VERSION);
            throw new MigrationException(Kind.VERSION, "the source " + ch.peer() + " speaks migration protocol version " + h.version() + ", this destination " + Protocol.VERSION);
        }
        if (h.authCode() != auth.code()) {
            ch.refuse("authentication mismatch: the destination requires " + auth.describe() + ", the source uses " + Auth.describe(h.authCode()));
            throw new MigrationException(Kind.AUTH, "authentication mismatch: the source " + ch.peer() + " uses " + Auth.describe(h.authCode()) + ", this destination requires " + auth.describe());
        }
        byte[] mine = hello(auth, 0, 0);
        ch.send(MessageType.HELLO, mine, null, 0);
        if (auth instanceof Auth.Psk psk) {
            byte[] proof = ch.expect(MessageType.AUTH, d -> d.raw(PROOF_BYTES, "source proof"));
            if (!MessageDigest.isEqual(proof, mac(psk, "source", theirs, mine))) {
                ch.refuse("authentication failed: the source's key does not match the destination's");
                throw new MigrationException(Kind.AUTH, "authentication failed: the source " + ch.peer() + " does not hold this key");
            }
            ch.send(MessageType.AUTH, new Encoder().raw(mac(psk, "destination", theirs, mine)));
            byte[][] keys = frameKeys(psk, theirs, mine);
            ch.protect(keys[1], keys[0]);
        }
        return h;
    }

    private static byte[] hello(Auth auth, long session, int index) {
        byte[] nonce = new byte[Protocol.NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        return new Encoder().raw(Protocol.MAGIC).u32(Protocol.VERSION).u8(auth.code()).raw(nonce).u64(session).varUnsigned(index).toBytes();
    }

    private static Hello parse(Channel ch, Frame f, String who) {
        try {
            Decoder d = f.decoder();
            byte[] magic = d.raw(Protocol.MAGIC.length, "magic");
            if (!Arrays.equals(magic, Protocol.MAGIC)) {
                ch.refuse("not a stasis migration peer");
                throw new MigrationException(Kind.VERSION, "the " + who + " " + ch.peer() + " is not a stasis migration peer");
            }
            int version = d.u32("version");
            if (version != Protocol.VERSION) {
                return new Hello(version, -1, 0, 0); // the rest may be laid out differently
            }
            int code = d.u8("auth method");
            d.raw(Protocol.NONCE_BYTES, "nonce");
            long session = d.u64("session");
            int index = d.varInt("connection index", Protocol.MAX_CONNECTIONS - 1);
            d.end("HELLO");
            return new Hello(version, code, session, index);
        } catch (SnapshotFormatException e) {
            ch.refuse("malformed HELLO");
            throw new MigrationException(Kind.PROTOCOL, "malformed HELLO from the " + who + " " + ch.peer() + ": " + e.getMessage());
        }
    }

    /**
     * The connection's frame keys {source to destination, destination to source}: HMAC-SHA256 under the key,
     * over a label and both HELLOs (so both nonces): fresh for every connection, unknown without the key.
     */
    private static byte[][] frameKeys(Auth.Psk psk, byte[] sourceHello, byte[] destinationHello) {
        return new byte[][] {mac(psk.key(), "frames source-to-destination", sourceHello, destinationHello),
                mac(psk.key(), "frames destination-to-source", sourceHello, destinationHello)};
    }

    private static byte[] mac(Auth.Psk psk, String role, byte[] sourceHello, byte[] destinationHello) {
        return mac(psk.key(), role, sourceHello, destinationHello);
    }

    private static byte[] mac(byte[] key, String role, byte[] sourceHello, byte[] destinationHello) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            mac.update(("stasis-migrate " + Protocol.VERSION + " " + role).getBytes(StandardCharsets.US_ASCII));
            mac.update(sourceHello);
            mac.update(destinationHello);
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is not available in this JDK", e);
        }
    }
}
