package dev.stasis.migrate.auth;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Loads {@link Auth.Tls} from files as openssl writes them: {@code --tls-cert} (PEM, this side's certificate then its
 * chain; or a PKCS#12 bundle holding key and chain, its password in {@code STASIS_TLS_PASSWORD} or empty),
 * {@code --tls-key} (PEM PKCS#8, "BEGIN PRIVATE KEY", RSA, EC or Ed25519; unencrypted; mode 0600 or stricter) and
 * {@code --tls-ca} (PEM, the CAs to trust, several allowed). Every problem names the file and what is wrong.
 */
public final class TlsCredentials {
    private static final Pattern PEM = Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]+?)-----END \\1-----");
    private static final char[] NO_PASSWORD = new char[0];

    private TlsCredentials() {}

    /** {@link #load(Path, Path, Path, char[])} with the PKCS#12 password from {@code STASIS_TLS_PASSWORD}, or none. */
    public static Auth.Tls load(Path cert, Path key, Path ca) {
        String env = System.getenv("STASIS_TLS_PASSWORD");
        return load(cert, key, ca, env == null ? NO_PASSWORD : env.toCharArray());
    }

    /**
     * @param key       null when {@code cert} is a PKCS#12 bundle
     * @param p12Password the bundle's password (empty for none); unused for PEM
     */
    public static Auth.Tls load(Path cert, Path key, Path ca, char[] p12Password) {
        try {
            KeyStore identity = KeyStore.getInstance("PKCS12");
            char[] password = NO_PASSWORD;
            byte[] certBytes = read(cert, "--tls-cert");
            String subject;
            if (isPem(certBytes)) {
                if (key == null) {
                    throw new MigrationException(Kind.AUTH, cert + " (--tls-cert) is PEM: --tls-key must name its private key");
                }
                List<X509Certificate> chain = certificates(certBytes, cert, "--tls-cert");
                PrivateKey privateKey = privateKey(key);
                identity.load(null, null);
                identity.setKeyEntry("stasis", privateKey, NO_PASSWORD, chain.toArray(Certificate[]::new));
                subject = chain.get(0).getSubjectX500Principal().getName();
            } else {
                if (key != null) {
                    throw new MigrationException(Kind.AUTH, cert + " (--tls-cert) is not PEM, so it is read as PKCS#12, which holds its key: leave out --tls-key");
                }
                SecretFile.checkPrivate(cert, "--tls-cert");
                password = p12Password;
                try (InputStream in = new ByteArrayInputStream(certBytes)) {
                    identity.load(in, password);
                } catch (IOException e) {
                    throw new MigrationException(Kind.AUTH, cert + " (--tls-cert) is neither PEM nor a PKCS#12 bundle this password opens"
                            + " (STASIS_TLS_PASSWORD): " + e.getMessage(), e);
                }
                subject = subjectOf(identity, cert);
            }
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            List<X509Certificate> cas = certificates(read(ca, "--tls-ca"), ca, "--tls-ca");
            for (int i = 0; i < cas.size(); i++) {
                trust.setCertificateEntry("ca" + i, cas.get(i));
            }
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(identity, password);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trust);
            SSLContext context = SSLContext.getInstance("TLSv1.3");
            context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return new Auth.Tls(context, subject);
        } catch (GeneralSecurityException | IOException e) {
            throw new MigrationException(Kind.AUTH, "cannot set up TLS from " + cert + (key == null ? "" : ", " + key) + " and " + ca + ": " + e.getMessage(), e);
        }
    }

    private static byte[] read(Path file, String option) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new MigrationException(Kind.AUTH, "cannot read " + file + " (" + option + "): " + e.getMessage(), e);
        }
    }

    /** Anywhere in the file: `openssl x509 -text` puts a long text dump before the PEM block. */
    private static boolean isPem(byte[] bytes) {
        return new String(bytes, StandardCharsets.ISO_8859_1).contains("-----BEGIN ");
    }

    private static List<X509Certificate> certificates(byte[] pem, Path file, String option) throws GeneralSecurityException {
        List<X509Certificate> out = new ArrayList<>();
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        Matcher m = PEM.matcher(new String(pem, StandardCharsets.US_ASCII));
        while (m.find()) {
            if (m.group(1).equals("CERTIFICATE")) {
                Collection<? extends Certificate> c = cf.generateCertificates(new ByteArrayInputStream(m.group().getBytes(StandardCharsets.US_ASCII)));
                c.forEach(x -> out.add((X509Certificate) x));
            }
        }
        if (out.isEmpty()) {
            throw new MigrationException(Kind.AUTH, file + " (" + option + ") holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
        }
        return out;
    }

    private static PrivateKey privateKey(Path file) throws GeneralSecurityException {
        SecretFile.checkPrivate(file, "--tls-key");
        Matcher m = PEM.matcher(new String(read(file, "--tls-key"), StandardCharsets.US_ASCII));
        if (!m.find()) {
            throw new MigrationException(Kind.AUTH, file + " (--tls-key) holds no PEM private key");
        }
        String type = m.group(1);
        if (type.equals("ENCRYPTED PRIVATE KEY")) {
            throw new MigrationException(Kind.AUTH, file + " (--tls-key) is encrypted; give the key unencrypted (openssl pkcs8 -in KEY -out KEY.pem)");
        }
        if (!type.equals("PRIVATE KEY")) {
            throw new MigrationException(Kind.AUTH, file + " (--tls-key) holds a \"" + type + "\", not PKCS#8 \"PRIVATE KEY\";"
                    + " convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pem");
        }
        byte[] der = Base64.getMimeDecoder().decode(m.group(2));
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException wrongAlgorithm) {
                // try the next
            }
        }
        throw new MigrationException(Kind.AUTH, file + " (--tls-key) is a PKCS#8 key of an algorithm this JDK cannot use (RSA, EC and Ed25519 work)");
    }

    private static String subjectOf(KeyStore store, Path file) throws GeneralSecurityException {
        for (var aliases = store.aliases(); aliases.hasMoreElements(); ) {
            String alias = aliases.nextElement();
            if (store.isKeyEntry(alias) && store.getCertificate(alias) instanceof X509Certificate x) {
                return x.getSubjectX500Principal().getName();
            }
        }
        throw new MigrationException(Kind.AUTH, file + " (--tls-cert) is a PKCS#12 bundle without a private key and its certificate");
    }
}
