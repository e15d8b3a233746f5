package dev.stasis.jail;

import com.sun.jna.Pointer;
import dev.stasis.os.LibC;
import java.util.function.Function;

/** User and group names or numbers, resolved through the host's NSS (getpwnam/getgrnam), before the jail hides /etc. */
final class UnixIds {
    private UnixIds() {}

    /** {@code spec} as a uid: a number, or a user name. */
    static int user(String spec) {
        return id(spec, "--uid", "user", LibC::getpwnam, LibC.PASSWD_UID_OFFSET);
    }

    /** {@code spec} as a gid: a number, or a group name. */
    static int group(String spec) {
        return id(spec, "--gid", "group", LibC::getgrnam, LibC.GROUP_GID_OFFSET);
    }

    /** The primary group of user {@code spec}, or, for a number with no such user, the same number. */
    static int primaryGroup(String spec) {
        Pointer pw = isNumber(spec) ? null : LibC.getpwnam(spec);
        return pw == null ? user(spec) : pw.getInt(LibC.PASSWD_GID_OFFSET);
    }

    /** A number as it is, else the id at {@code offset} in the entry {@code lookup} finds (libc's static buffer, read at once). */
    private static int id(String spec, String option, String kind, Function<String, Pointer> lookup, int offset) {
        if (isNumber(spec)) {
            return Integer.parseUnsignedInt(spec);
        }
        Pointer entry = lookup.apply(spec);
        if (entry == null) {
            throw new IllegalArgumentException(option + " " + spec + ": no such " + kind);
        }
        return entry.getInt(offset);
    }

    private static boolean isNumber(String spec) {
        return !spec.isEmpty() && spec.length() <= 10 && spec.chars().allMatch(Character::isDigit) && Long.parseLong(spec) <= 0xffff_fffeL;
    }
}
