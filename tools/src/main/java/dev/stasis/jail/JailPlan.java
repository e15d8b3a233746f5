package dev.stasis.jail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a jail holds, as the steps that build it, in order. Only what a JVM running stasis needs:
 * <ul>
 *   <li>the host's {@code /usr} read-only, and {@code /lib}, {@code /lib64}, {@code /bin}, {@code /sbin} as the host
 *       has them (links into {@code /usr} on merged-/usr systems, else read-only binds): a JVM is a dynamic binary
 *       (libjvm, libc, libz, the loader), and copying exactly its libraries would break with every JDK update;</li>
 *   <li>the JDK (when outside {@code /usr}) and the directories its absolute symbolic links point into (Debian's JDK
 *       keeps {@code jvm.cfg} and {@code java.security} in {@code /etc/java-17-openjdk}), never the rest of {@code /etc};</li>
 *   <li>each class path entry (and the class-data-sharing archive), read-only at its own path;</li>
 *   <li>a {@code /proc} of the jail's PID namespace; a tmpfs {@code /dev} holding only {@code kvm} and {@code userfaultfd}
 *       (owned by the jail's user, mode 0600) and {@code null}, {@code zero}, {@code random}, {@code urandom}
 *       (without {@code random} the JDK's seed generator falls back to spinning threads for seconds);</li>
 *   <li>a tmpfs {@code /tmp} of the jail's user (JNA and zstd-jni unpack their native libraries there);</li>
 *   <li>each input file named on the command line, read-only at the path it has for a process whose working directory
 *       is the jail's root: an absolute path as it is, a relative one under {@code /}. So the jailed stasis gets the
 *       same arguments and finds the same files.</li>
 * </ul>
 */
final class JailPlan {
    static final Path DEV = Path.of("/dev");
    static final Path PROC = Path.of("/proc");
    static final Path TMP = Path.of("/tmp");
    private static final List<String> SYSTEM = List.of("/usr", "/lib", "/lib64", "/bin", "/sbin");
    private static final List<String> WORLD_DEVICES = List.of("null", "zero", "random", "urandom");
    private static final List<String> VM_DEVICES = List.of("kvm", "userfaultfd");

    private final List<JailStep> steps = new ArrayList<>();

    private JailPlan() {}

    List<JailStep> steps() {
        return List.copyOf(steps);
    }

    /**
     * @param javaHome  the running JDK (its real path)
     * @param jvmFiles  the class path entries and other files the JVM opens (the CDS archive), host real path to jail path
     * @param inputs    the input files as the user wrote them (guest image, --load, --initrd, --module, a snapshot)
     */
    static JailPlan of(int uid, int gid, Path javaHome, List<JailStep.Bind> jvmFiles, List<String> inputs) throws IOException {
        JailPlan plan = new JailPlan();
        for (String s : SYSTEM) {
            Path p = Path.of(s);
            if (Files.isSymbolicLink(p)) {
                plan.steps.add(new JailStep.Link(p, Files.readSymbolicLink(p).toString()));
            } else if (Files.isDirectory(p)) {
                plan.steps.add(new JailStep.Bind(p, p));
            }
        }
        // The file systems of the jail's own first: what follows may lie under /tmp (a JDK or a class path there).
        plan.steps.add(new JailStep.Proc(PROC));
        plan.steps.add(new JailStep.Tmpfs(DEV, "nosuid,noexec,mode=0755,size=64k"));
        String owner = uid + ":" + gid;
        for (String name : VM_DEVICES) {
            plan.device(name, "0600", owner);
        }
        for (String name : WORLD_DEVICES) {
            plan.device(name, "0666", "0:0");
        }
        // Not noexec: the native libraries unpacked here are mapped executable.
        plan.steps.add(new JailStep.Tmpfs(TMP, "nosuid,nodev,mode=0700,uid=" + uid + ",gid=" + gid + ",size=64m"));
        plan.bindUnlessShown(new JailStep.Bind(javaHome, javaHome));
        for (Path dir : linkedDirectories(javaHome)) {
            plan.bindUnlessShown(new JailStep.Bind(dir, dir));
        }
        for (JailStep.Bind file : jvmFiles) {
            plan.bindUnlessShown(file);
        }
        for (String input : inputs) {
            plan.input(input);
        }
        return plan;
    }

    /** Where {@code text}, a path the user wrote, leads a process whose working directory is the jail's root. */
    static Path jailPath(String text) {
        return Path.of("/").resolve(text).normalize();
    }

    /** {@code bind}, unless a bind or link of the host's already shows its destination (the JDK under /usr). */
    private void bindUnlessShown(JailStep.Bind bind) {
        JailStep under = covering(bind.dst());
        if (under == null || isJailTmp(under)) {
            steps.add(bind);
        }
    }

    private static boolean isJailTmp(JailStep step) {
        return step instanceof JailStep.Tmpfs t && t.dst().equals(TMP);
    }

    private void device(String name, String mode, String owner) throws IOException {
        Path host = DEV.resolve(name);
        if (!Files.exists(host)) {
            return; // userfaultfd is newer than many kernels; /dev/kvm missing fails in the jail with the usual error
        }
        long rdev = ((Number) Files.getAttribute(host, "unix:rdev")).longValue();
        // glibc's gnu_dev_major/gnu_dev_minor: 12 bits of major and 20 of minor, split across the 64-bit dev_t.
        long major = ((rdev >>> 8) & 0xfff) | ((rdev >>> 32) & ~0xfffL);
        long minor = (rdev & 0xff) | ((rdev >>> 12) & ~0xffL);
        steps.add(new JailStep.Device(DEV.resolve(name), major, minor, mode, owner));
    }

    private void input(String text) throws IOException {
        Path host = Path.of(text);
        if (!Files.isRegularFile(host)) {
            return; // not a file (a fixture guest's name, or a missing file the jailed stasis reports as usual)
        }
        Path real = host.toRealPath();
        Path at = jailPath(text);
        JailStep under = covering(at);
        if (under == null || isJailTmp(under)) {
            steps.add(new JailStep.Bind(real, at));
            return;
        }
        if (under instanceof JailStep.Bind b && b.dst().equals(at)) {
            if (b.src().equals(real)) {
                return; // the same file named twice, or a class path entry
            }
        } else if (host.isAbsolute() && (under instanceof JailStep.Link || under instanceof JailStep.Bind b && b.src().equals(b.dst()))) {
            return; // e.g. /usr/share/guests/x.elf: the host's /usr is in the jail at its own path, so the file is too
        }
        throw new IllegalArgumentException(text + ": in the jail it would be " + at + ", which is the jail's own "
                + under.dst() + "; name it by another path (an absolute one, or copy it)");
    }

    /** The step whose destination is {@code p} or one of its parents, or null. */
    private JailStep covering(Path p) {
        JailStep found = null;
        for (JailStep s : steps) {
            if (!(s instanceof JailStep.Device) && p.startsWith(s.dst())) {
                found = s; // later steps are mounted over earlier ones
            }
        }
        return found;
    }

    /**
     * The smallest set of directories holding every absolute target of a symbolic link in {@code javaHome}: the
     * JDK does not start without them. Targets that do not exist are left out (a dangling link stays dangling).
     */
    static List<Path> linkedDirectories(Path javaHome) throws IOException {
        List<Path> dirs = new ArrayList<>();
        try (Stream<Path> files = Files.walk(javaHome)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (!Files.isSymbolicLink(f) || !Files.readSymbolicLink(f).isAbsolute() || !Files.exists(f)) {
                    continue;
                }
                Path target = f.toRealPath();
                Path dir = Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS) ? target : target.getParent();
                if (dir.startsWith(javaHome) || dirs.stream().anyMatch(dir::startsWith)) {
                    continue;
                }
                dirs.removeIf(d -> d.startsWith(dir));
                dirs.add(dir);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return dirs;
    }
}
