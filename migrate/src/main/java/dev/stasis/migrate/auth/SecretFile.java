package dev.stasis.migrate.auth;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.Set;

/** A file that holds a secret (a pre-shared key, a private key, a PKCS#12 bundle): refused when others may read it. */
final class SecretFile {
    private SecretFile() {}

    /** Throws {@link Kind#AUTH} naming {@code file} and {@code what} when its group or others may read it. */
    static void checkPrivate(Path file, String what) {
        try {
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(file);
            if (perms.contains(PosixFilePermission.GROUP_READ) || perms.contains(PosixFilePermission.OTHERS_READ)) {
                throw new MigrationException(Kind.AUTH, file + " (" + what + "): it holds a secret and is readable by others; chmod 600 it");
            }
        } catch (IOException e) {
            throw new MigrationException(Kind.AUTH, "cannot read " + file + " (" + what + "): " + e.getMessage(), e);
        }
    }
}
