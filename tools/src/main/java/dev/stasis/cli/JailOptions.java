package dev.stasis.cli;

import dev.stasis.jail.Jailer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;

/** {@code --jail DIR [--uid USER] [--gid GROUP] [--jail-allow-root]} of the commands that run a VM ({@link Jailer}). */
final class JailOptions {
    private static final Set<String> WITH_VALUE = Set.of("--jail", "--uid", "--gid");
    private static final String ALLOW_ROOT = "--jail-allow-root";

    @Option(names = "--jail", paramLabel = "DIR",
            description = "run the VM jailed in DIR (new, empty or a previous jail; needs root): its own mount, PID and network "
                    + "namespaces, chrooted into DIR holding only what it needs, as --uid/--gid with no_new_privs and no capabilities. "
                    + "Its paths (--api-socket, snapshots, --crash-dump) are inside DIR")
    Path dir;

    @Option(names = "--uid", paramLabel = "USER|UID", description = "the jailed VM's user (default nobody)")
    String uid;

    @Option(names = "--gid", paramLabel = "GROUP|GID", description = "the jailed VM's group (default: the user's primary group)")
    String gid;

    @Option(names = ALLOW_ROOT, description = "let --uid or --gid be 0 (root), which defeats most of the jail")
    boolean allowRoot;

    /**
     * Becomes the jailed VM if --jail was given ({@link Jailer#exec} does not return), else returns. {@code inputs}
     * are the input files as the user wrote them; {@code spec} the running command, whose arguments are passed on.
     */
    void enterIfAsked(CommandSpec spec, List<String> inputs) throws Exception {
        if (dir == null) {
            if (uid != null || gid != null || allowRoot) {
                throw new IllegalArgumentException("--uid, --gid and " + ALLOW_ROOT + " apply only with --jail");
            }
            return;
        }
        Jailer.exec(new Jailer.Request(dir, uid == null ? Jailer.DEFAULT_USER : uid, gid, allowRoot, inputs,
                withoutJailOptions(spec.commandLine().getParseResult().originalArgs())));
    }

    /** {@code args} without this mixin's options ({@code --jail DIR} and {@code --jail=DIR} alike), up to a {@code --}. */
    static List<String> withoutJailOptions(List<String> args) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (a.equals("--")) {
                out.addAll(args.subList(i, args.size()));
                break;
            }
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (WITH_VALUE.contains(a)) {
                i++; // and its value
            } else if (!WITH_VALUE.contains(name) && !a.equals(ALLOW_ROOT)) {
                out.add(a);
            }
        }
        return out;
    }
}
