package dev.stasis.migrate;

import dev.stasis.fixtures.TestCertificates;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.TlsCredentials;
import java.nio.file.Path;

/** {@link TestCertificates} as migration credentials. */
final class TestPki {
    final TestCertificates files;

    private TestPki(TestCertificates files) {
        this.files = files;
    }

    static TestPki create(Path dir) throws Exception {
        return new TestPki(TestCertificates.create(dir));
    }

    Path cert(String name) {
        return files.cert(name);
    }

    Path key(String name) {
        return files.key(name);
    }

    void openssl(String... args) throws Exception {
        files.openssl(args);
    }

    /** {@code name}'s certificate and key, trusting {@code ca}. */
    Auth.Tls auth(String name, String ca) {
        return TlsCredentials.load(cert(name), key(name), cert(ca));
    }
}
