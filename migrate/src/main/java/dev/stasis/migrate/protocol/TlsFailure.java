package dev.stasis.migrate.protocol;

import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;

/** What a failed TLS handshake means, in one line: the JDK's exceptions nest the reason a user needs. */
final class TlsFailure {
    private TlsFailure() {}

    /** Whether {@code e} is the peer refusing this side (a handshake failure or a certificate alert), not a link break. */
    static boolean isRefusal(Throwable e) {
        if (e instanceof javax.net.ssl.SSLHandshakeException) {
            return true;
        }
        String m = String.valueOf(e.getMessage());
        return e instanceof javax.net.ssl.SSLException && (m.contains("certificate") || m.contains("unknown_ca") || m.contains("protocol_version")
                || m.contains("handshake_failure") || m.contains("access_denied"));
    }

    static String describe(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof CertificateExpiredException) {
                return "the peer's certificate has expired (" + t.getMessage() + ")";
            }
            if (t instanceof CertificateNotYetValidException) {
                return "the peer's certificate is not valid yet (" + t.getMessage() + ")";
            }
            if (t instanceof CertPathValidatorException v && v.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
                return "the peer's certificate has expired";
            }
        }
        String deepest = e.getMessage();
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t.getMessage() != null) {
                deepest = t.getMessage();
            }
        }
        String m = String.valueOf(deepest);
        if (m.contains("unable to find valid certification path")) {
            return "the peer's certificate is not signed by a CA in --tls-ca";
        }
        if (m.contains("No subject alternative") || m.contains("No name matching")) {
            return "the peer's certificate is for another host: " + m;
        }
        if (m.contains("Empty client certificate chain") || m.contains("Empty server certificate chain")) {
            return "the peer sent no certificate signed by a CA in --tls-ca";
        }
        if (m.contains("not accepted by server preferences") || m.contains("protocol_version") || m.contains("not supported or has been disabled") || m.contains("No appropriate protocol")) {
            return "the peer does not speak TLS 1.3 (" + m + ")";
        }
        if (m.contains("Unsupported or unrecognized SSL message") || m.contains("plaintext connection")) {
            return "the peer does not speak TLS (is it using --psk-file or --insecure?)";
        }
        if (m.contains("Broken pipe") || m.contains("Connection reset") || m.contains("Remote host terminated the handshake")) {
            return "the peer hung up during the TLS handshake (does it trust this side's certificate? " + m + ")";
        }
        if (m.contains("bad_certificate") || m.contains("certificate_unknown") || m.contains("certificate_required")) {
            return "the peer refused this side's certificate (" + m + ")";
        }
        return m;
    }
}
