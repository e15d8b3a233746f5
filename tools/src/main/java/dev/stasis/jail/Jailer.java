package dev.stasis.jail;

import com.sun.jna.Native;
import com.sun.jna.StringArray;
import dev.stasis.os.LibC;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Runs this very command again inside a jail, as Firecracker's jailer runs Firecracker: util-linux's
 * {@code unshare} gives it new mount, PID and network namespaces; {@code jail-init.sh} forks the jail's PID 1, which
 * builds the jail's file system ({@link JailPlan}) and chroots into it, and stays outside to pass signals on;
 * util-linux's {@code setpriv} sets the jail's uid and gid, clears the supplementary groups, empties the capability
 * bounding and inheritable sets, sets {@code no_new_privs}, and a parent-death signal (TERM, set after the uid
 * change, which clears it), so the VM stops if its launcher is killed; then the same JVM runs {@code stasis} with
 * the same arguments, less the jail's options.
 *
 * <p>This process execs {@code unshare} (execve(2) through JNA) instead of waiting for it: the process the user
 * started stays the one whose exit status and signals are the VM's, with no JVM left outside holding memory. The
 * JVM opens descriptors without close-on-exec, so every one but stdin, stdout, stderr and the jail's lock is marked
 * close-on-exec first: nothing of the host crosses into the jail but what the plan puts there.
 */
public final class Jailer {
    /** The system property the jailed stasis is started with: the jail's root as the host sees it. */
    static final String PROPERTY = "stasis.jail";
    private static final String TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
    private static final List<String> PASSED_ENVIRONMENT = List.of("STASIS_DEBUG", "STASIS_PROGRESS", "TERM", "LANG", "LC_ALL");

    private Jailer() {}

    /** The jail this process runs in, as the host sees its root, or null when it is not jailed. */
    public static String current() {
        return System.getProperty(PROPERTY);
    }

    /** The jailed VM's user unless told otherwise: the unprivileged user every Linux distribution has. */
    public static final String DEFAULT_USER = "nobody";

    /**
     * What to jail: the jail's root on the host; its user (name or number) and group (null: the user's primary
     * group); whether uid or gid 0 is really meant; the input files as the user wrote them; and the command's
     * arguments without the jail's own options.
     */
    public record Request(Path dir, String user, String group, boolean allowRoot, List<String> inputs, List<String> arguments) {
        int uid() {
            return UnixIds.user(user);
        }

        int gid() {
            return group == null ? UnixIds.primaryGroup(user) : UnixIds.group(group);
        }
    }

    /** Never returns normally: this process becomes the jail (or a refusal is thrown, or the exec failed). */
    public static void exec(Request request) throws IOException {
        int uid = request.uid();
        int gid = request.gid();
        if ((uid == 0 || gid == 0) && !request.allowRoot()) {
            throw new IllegalArgumentException("--jail with " + (uid == 0 ? "uid" : "gid") + " 0 would run the VM as root inside it; "
                    + "give an unprivileged --uid/--gid, or add --jail-allow-root if that is really meant");
        }
        if (LibC.geteuid() != 0) {
            throw new IllegalArgumentException("--jail needs root (it makes namespaces, mounts and device nodes, then drops to --uid); "
                    + "run it as root, or run without --jail as a user in /dev/kvm's group");
        }
        Path unshare = tool("unshare", "util-linux");
        tool("setpriv", "util-linux");
        tool("mount", "mount");
        tool("chroot", "coreutils");
        tool("mknod", "coreutils");
        Path sh = tool("sh", "dash");
        Path root = JailDirectory.prepare(request.dir());
        Path javaHome = Path.of(System.getProperty("java.home")).toRealPath();
        Jvm jvm = Jvm.current();
        JailPlan plan = JailPlan.of(uid, gid, javaHome, jvm.files(), request.inputs());
        int lock = JailDirectory.lock(root);
        JailDirectory.checkNoForeignLinks(root, plan);
        JailDirectory.handOver(root, uid, gid);

        List<String> argv = new ArrayList<>(List.of(unshare.toString(), "--mount", "--pid", "--net", "--propagation", "private",
                "--", sh.toString(), "-c", script(), "jail-init", root.toString()));
        plan.steps().forEach(s -> argv.addAll(s.words()));
        argv.add("--");
        argv.addAll(jailedCommand(uid, gid, root, javaHome, jvm, request.arguments()));
        System.err.println("stasis: jail " + root + " (uid " + uid + ", gid " + gid
                + "): the VM's paths are under it, its control socket PATH is " + root + "/PATH from here");
        System.out.flush();
        System.err.flush();
        closeOnExecAllBut(lock);
        LibC.execve(unshare.toString(), new StringArray(argv.toArray(String[]::new)), new StringArray(environment().toArray(String[]::new)));
        throw new IllegalStateException("cannot exec " + unshare + ": " + LibC.strerror(Native.getLastError())); // the host failed, not the input
    }

    /** What runs in the chroot: setpriv dropping everything, then this JVM's java running stasis with {@code arguments}. */
    private static List<String> jailedCommand(int uid, int gid, Path root, Path javaHome, Jvm jvm, List<String> arguments) {
        List<String> command = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + gid, "--clear-groups",
                "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--pdeathsig=TERM", "--",
                javaHome.resolve("bin/java").toString()));
        command.addAll(jvm.options());
        command.addAll(List.of("-D" + PROPERTY + "=" + root, "-Djava.io.tmpdir=" + JailPlan.TMP, "-Djna.tmpdir=" + JailPlan.TMP,
                "-cp", jvm.classPath(), "dev.stasis.cli.Stasis"));
        command.addAll(arguments);
        return command;
    }

    /** {@code PATH} and the few variables that change how stasis talks, nothing else of the caller's (this runs as root). */
    private static List<String> environment() {
        List<String> env = new ArrayList<>(List.of("PATH=" + TOOL_PATH));
        for (String name : PASSED_ENVIRONMENT) {
            String value = System.getenv(name);
            if (value != null) {
                env.add(name + "=" + value);
            }
        }
        return env;
    }

    /** A program the jail needs, from the system's directories (never the caller's PATH: this runs as root). */
    public static Path tool(String name, String debianPackage) {
        for (String dir : TOOL_PATH.split(":")) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new IllegalArgumentException("--jail needs " + name + ", not found in " + TOOL_PATH
                + " (Debian/Ubuntu: apt-get install " + debianPackage + ")");
    }

    /** Marks every open descriptor above stderr close-on-exec, except {@code keep}. */
    private static void closeOnExecAllBut(int keep) throws IOException {
        List<Integer> fds = new ArrayList<>();
        try (Stream<Path> open = Files.list(Path.of("/proc/self/fd"))) {
            open.forEach(p -> fds.add(Integer.parseInt(p.getFileName().toString())));
        }
        for (int fd : fds) {
            if (fd > 2 && fd != keep) {
                LibC.fcntl(fd, LibC.F_SETFD, LibC.FD_CLOEXEC); // the listing's own descriptor is closed already: EBADF, harmless
            }
        }
    }

    private static String script() throws IOException {
        try (InputStream in = Jailer.class.getResourceAsStream("jail-init.sh")) {
            if (in == null) {
                throw new IllegalStateException("jail-init.sh is missing from stasis's jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
