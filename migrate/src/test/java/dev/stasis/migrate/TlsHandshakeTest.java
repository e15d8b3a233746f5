package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.auth.TlsCredentials;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.Protocol;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** TLS 1.3 with certificates both ways, against good, expired, misnamed and untrusted certificates and older peers; no KVM needed. */
class TlsHandshakeTest {
    @TempDir
    static Path dir;
    static TestPki pki;

    @BeforeAll
    static void certificates() throws Exception {
        pki = TestPki.create(dir);
    }

    private static ChannelPair.Outcome<Handshake.Hello> handshake(Auth destination, Auth source) throws Exception {
        return ChannelPair.run(ch -> Handshake.server(ch, destination), ch -> {
            Handshake.client(ch, source, 0x77, 0);
            return null;
        });
    }

    @Test
    void certificatesBothWaysAuthenticateEachSide() throws Exception {
        String[] peers = new String[2];
        var o = ChannelPair.run(ch -> {
            Handshake.Hello h = Handshake.server(ch, pki.auth("destination", "ca"));
            peers[0] = ch.tlsPeer();
            return h;
        }, ch -> {
            Handshake.client(ch, pki.auth("source", "ca"), 0x77, 0);
            peers[1] = ch.tlsPeer();
            return null;
        });
        assertNull(o.server(), String.valueOf(o.server()));
        assertNull(o.client(), String.valueOf(o.client()));
        assertEquals(new Handshake.Hello(Protocol.VERSION, 2, 0x77, 0), o.value());
        assertEquals("CN=source", peers[0], "the destination knows who the source is");
        assertEquals("CN=destination", peers[1]);
    }

    @ParameterizedTest
    @CsvSource({"expired, has expired", "elsewhere, is for another host", "stranger, is not signed by a CA in --tls-ca"})
    void aBadDestinationCertificateIsRefusedByName(String certificate, String reason) throws Exception {
        var o = handshake(pki.auth(certificate, "ca"), pki.auth("source", "ca"));
        assertInstanceOf(MigrationException.class, o.client());
        assertEquals(MigrationException.Kind.AUTH, ((MigrationException) o.client()).kind());
        assertTrue(o.client().getMessage().contains("TLS handshake with") && o.client().getMessage().contains(reason), o.client().getMessage());
        assertInstanceOf(MigrationException.class, o.server(), "the destination refuses too");
    }

    @Test
    void aSourceCertificateFromAnotherCaIsRefused() throws Exception {
        var o = handshake(pki.auth("destination", "ca"), pki.auth("stranger", "ca"));
        assertInstanceOf(MigrationException.class, o.server());
        assertTrue(o.server().getMessage().contains("signed by a CA in --tls-ca"), o.server().getMessage());
        assertInstanceOf(MigrationException.class, o.client());
    }

    @Test
    void aPeerSpeakingTls12IsRefused() throws Exception {
        try (java.net.ServerSocket ss = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            var server = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try (Channel ch = new Channel(ss.accept(), dev.stasis.migrate.protocol.FaultHook.NONE, new java.util.concurrent.atomic.AtomicInteger())) {
                    return Handshake.server(ch, pki.auth("destination", "ca"));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            SSLContext old = SSLContext.getInstance("TLSv1.2");
            old.init(null, new javax.net.ssl.TrustManager[] {new TrustAll()}, new SecureRandom());
            try (SSLSocket s = (SSLSocket) old.getSocketFactory().createSocket(ss.getInetAddress(), ss.getLocalPort())) {
                SSLParameters p = s.getSSLParameters();
                p.setProtocols(new String[] {"TLSv1.2"});
                s.setSSLParameters(p);
                assertThrows(java.io.IOException.class, s::startHandshake, "a TLS 1.2 handshake does not succeed");
            }
            var e = assertThrows(java.util.concurrent.ExecutionException.class, () -> server.get(10, java.util.concurrent.TimeUnit.SECONDS));
            assertInstanceOf(MigrationException.class, e.getCause());
            assertTrue(e.getCause().getMessage().contains("does not speak TLS 1.3"), e.getCause().getMessage());
        }
    }

    @Test
    void aPlaintextSourceIsRefusedByATlsDestination() throws Exception {
        var o = handshake(pki.auth("destination", "ca"), new Auth.Psk("the-right-key-0123456789".getBytes(StandardCharsets.UTF_8)));
        assertInstanceOf(MigrationException.class, o.server());
        assertTrue(o.server().getMessage().contains("does not speak TLS"), o.server().getMessage());
        assertNotNull(o.client(), "the source fails too");
    }

    @Test
    void aPkcs12BundleWorksAsWellAsPem() throws Exception {
        Path p12 = dir.resolve("source.p12");
        pki.openssl("pkcs12", "-export", "-in", pki.cert("source").toString(), "-inkey", pki.key("source").toString(), "-out", p12.toString(), "-passout", "pass:");
        Files.setPosixFilePermissions(p12, PosixFilePermissions.fromString("rw-------")); // it holds the key
        Auth bundle = TlsCredentials.load(p12, null, pki.cert("ca"), new char[0]);
        var o = handshake(pki.auth("destination", "ca"), bundle);
        assertNull(o.server(), String.valueOf(o.server()));
        assertNull(o.client(), String.valueOf(o.client()));
    }

    @Test
    void credentialProblemsNameTheFile() throws Exception {
        Path open = Files.copy(pki.key("source"), dir.resolve("open.key"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
        MigrationException e = assertThrows(MigrationException.class, () -> TlsCredentials.load(pki.cert("source"), open, pki.cert("ca")));
        assertTrue(e.getMessage().contains(open + " (--tls-key): it holds a secret and is readable by others"), e.getMessage());

        Path traditional = dir.resolve("traditional.key");
        pki.openssl("ec", "-in", pki.key("source").toString(), "-out", traditional.toString());
        Files.setPosixFilePermissions(traditional, PosixFilePermissions.fromString("rw-------"));
        e = assertThrows(MigrationException.class, () -> TlsCredentials.load(pki.cert("source"), traditional, pki.cert("ca")));
        assertTrue(e.getMessage().contains("\"EC PRIVATE KEY\"") && e.getMessage().contains("openssl pkcs8 -topk8"), e.getMessage());

        Path missing = dir.resolve("no-such-ca.pem");
        e = assertThrows(MigrationException.class, () -> TlsCredentials.load(pki.cert("source"), pki.key("source"), missing));
        assertTrue(e.getMessage().contains(missing + " (--tls-ca)"), e.getMessage());

        e = assertThrows(MigrationException.class, () -> TlsCredentials.load(pki.key("source"), pki.key("source"), pki.cert("ca")));
        assertTrue(e.getMessage().contains("holds no PEM certificate"), e.getMessage());
    }

    /** For the TLS 1.2 client only: it must get as far as the destination's refusal. */
    private static final class TrustAll implements javax.net.ssl.X509TrustManager {
        @Override
        public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType) {}

        @Override
        public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType) {}

        @Override
        public java.security.cert.X509Certificate[] getAcceptedIssuers() {
            return new java.security.cert.X509Certificate[0];
        }
    }
}
