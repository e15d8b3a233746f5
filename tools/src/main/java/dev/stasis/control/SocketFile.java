package dev.stasis.control;

import dev.stasis.snapshot.container.FileKind;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;

/**
 * Creates a control socket that has its final permissions from the moment it exists under its name.
 * {@code bind(2)} makes the file with the process's umask, so a socket bound in place and chmodded after is
 * open to everyone in between (under umask 000 a local user got in). Instead the socket is bound inside a
 * fresh private directory (mode 0700, so nobody else can even reach it), set to 0600 there, then hard-linked
 * under its real name (which fails, rather than replacing, if something appeared there meanwhile) and its
 * private name removed. No umask change: that is process-wide and would race other threads creating files.
 *
 * @param channel the listening socket
 * @param owner   the user that owns the socket file: this VM's user
 */
record SocketFile(ServerSocketChannel channel, UserPrincipal owner) {
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();

    /** Binds {@code path}, replacing a stale socket (nothing answers) but never a live one or another file. */
    static SocketFile bind(Path path) throws IOException {
        Path target = path.toAbsolutePath();
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            if (!isStaleSocket(target)) {
                throw new IOException(path + " is in use (another VM's control socket, or not a socket)");
            }
            Files.delete(target);
        }
        Path parent = target.getParent();
        Path dir = privateDirectory(path, parent);
        Path hidden = dir.resolve("s");
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        boolean linked = false;
        try {
            server.bind(UnixDomainSocketAddress.of(hidden));
            Files.setPosixFilePermissions(hidden, PosixFilePermissions.fromString("rw-------"));
            UserPrincipal owner = Files.getOwner(hidden, LinkOption.NOFOLLOW_LINKS);
            Files.createLink(target, hidden);
            linked = true;
            return new SocketFile(server, owner);
        } catch (FileAlreadyExistsException e) {
            throw new IOException(path + " is in use (it appeared while this VM was binding it)", e);
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot listen on " + path + ": " + e.getMessage(), e);
        } finally {
            if (!linked) {
                server.close();
            }
            Files.deleteIfExists(hidden);
            Files.deleteIfExists(dir);
        }
    }

    /** A fresh 0700 directory in {@code parent}, its name short: a socket's whole path must fit in 107 bytes. */
    private static Path privateDirectory(Path path, Path parent) throws IOException {
        var mode = PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")); // umask only removes bits
        for (int attempt = 0; ; attempt++) {
            Path dir = parent.resolve(".stasis-" + Long.toString(RANDOM.nextLong() & 0xffffffffL, 36));
            try {
                return Files.createDirectory(dir, mode);
            } catch (FileAlreadyExistsException e) {
                if (attempt == 9) {
                    throw new IOException("cannot listen on " + path + ": cannot create a private directory in " + parent, e);
                }
            } catch (IOException e) {
                throw new IOException("cannot listen on " + path + ": cannot create a private directory in " + parent + ": " + e.getMessage(), e);
            }
        }
    }

    private static boolean isStaleSocket(Path path) {
        try {
            if (FileKind.of(path) != FileKind.SOCKET) {
                return false; // a file, directory, link, FIFO or device is never ours to replace
            }
        } catch (IOException e) {
            return false;
        }
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }
}
