package dev.stasis.jail;

import java.nio.file.Path;
import java.util.List;

/**
 * One step of building a jail's file system, carried out by {@code jail-init.sh} inside the jail's mount namespace.
 * Every {@code dst} is a path as the jailed VM sees it (absolute, under the jail's root).
 */
sealed interface JailStep {
    Path dst();

    /** The words {@code jail-init.sh} reads for this step. */
    List<String> words();

    /** The host's {@code src} (a file or a directory) read-only at {@code dst}: no writes, no setuid, no devices. */
    record Bind(Path src, Path dst) implements JailStep {
        public List<String> words() {
            return List.of("bind", src.toString(), dst.toString());
        }
    }

    /** A symbolic link at {@code dst} to {@code target}, as the host has it ({@code /lib -> usr/lib}). */
    record Link(Path dst, String target) implements JailStep {
        public List<String> words() {
            return List.of("link", dst.toString(), target);
        }
    }

    /** A proc file system of the jail's own PID namespace: the JVM reads /proc/self. */
    record Proc(Path dst) implements JailStep {
        public List<String> words() {
            return List.of("proc", dst.toString());
        }
    }

    /** A fresh tmpfs: nothing in it survives the jail, and nothing a previous jail left can be in it. */
    record Tmpfs(Path dst, String options) implements JailStep {
        public List<String> words() {
            return List.of("tmpfs", dst.toString(), options);
        }
    }

    /** A character device node made afresh (not a bind of the host's), so its owner and mode are the jail's own. */
    record Device(Path dst, long major, long minor, String mode, String owner) implements JailStep {
        public List<String> words() {
            return List.of("device", dst.toString(), Long.toString(major), Long.toString(minor), mode, owner);
        }
    }
}
