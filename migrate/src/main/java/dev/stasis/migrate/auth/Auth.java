package dev.stasis.migrate.auth;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** How the two sides prove who they are. Both must use the same kind; a mismatch is refused by name. */
public sealed interface Auth permits Auth.Psk, Auth.Tls, Auth.Insecure {
    /** The code in HELLO. */
    int code();

    String describe();

    /** A pre-shared key; each side proves it holds it with HMAC-SHA256 over both HELLO messages. */
    record Psk(byte[] key) implements Auth {
        public static final int MIN_KEY_BYTES = 16;

        public Psk {
            if (key.length < MIN_KEY_BYTES) {
                throw new MigrationException(Kind.AUTH, "the pre-shared key has " + key.length + " bytes; at least " + MIN_KEY_BYTES + " are needed");
            }
            key = key.clone();
        }

        /** Reads a key file (trailing newlines dropped); refuses a file others can read. */
        public static Psk fromFile(Path file) {
            SecretFile.checkPrivate(file, "the key file");
            byte[] bytes;
            try {
                bytes = Files.readAllBytes(file);
            } catch (IOException e) {
                throw new MigrationException(Kind.AUTH, "cannot read the key file " + file + ": " + e.getMessage(), e);
            }
            int n = bytes.length;
            while (n > 0 && (bytes[n - 1] == '\n' || bytes[n - 1] == '\r')) {
                n--;
            }
            return new Psk(Arrays.copyOf(bytes, n));
        }

        @Override
        public int code() {
            return 1;
        }

        @Override
        public String describe() {
            return "a pre-shared key";
        }

        @Override
        public byte[] key() {
            return key.clone();
        }
    }

    /**
     * TLS 1.3 on every connection with certificates both ways ({@link TlsCredentials}): the source checks the
     * destination's certificate against the host it connects to, the destination requires the source's; both are
     * checked against the given CAs. Frames need no MACs of their own then.
     *
     * @param subject this side's certificate subject, for messages
     */
    record Tls(javax.net.ssl.SSLContext context, String subject) implements Auth {
        @Override
        public int code() {
            return 2;
        }

        @Override
        public String describe() {
            return "TLS 1.3 with certificates";
        }
    }

    /** No authentication, plaintext: only when asked for with --insecure. */
    record Insecure() implements Auth {
        @Override
        public int code() {
            return 0;
        }

        @Override
        public String describe() {
            return "no authentication (--insecure)";
        }
    }

    static String describe(int code) {
        return switch (code) {
            case 0 -> "no authentication (--insecure)";
            case 1 -> "a pre-shared key";
            case 2 -> "TLS 1.3 with certificates";
            default -> "authentication method " + code;
        };
    }
}
