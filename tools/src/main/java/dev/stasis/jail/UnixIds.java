package dev.stasis.jail;

import com.sun.jna.Pointer;
import dev.stasis.os.LibC;

/** User and group names or numbers, resolved through the host's NSS (getpwnam/getgrnam), before the jail hides /etc. */
final class UnixIds {
    private UnixIds() {}

    /** {@code spec} as a uid: a number, or a user name. */
    static int user(String spec) {
        if (isNumber(spec)) {
            return Integer.parseUnsignedInt(spec);
        }
        Pointer pw = LibC.getpwnam(spec);
        if (pw == null) {
            throw new IllegalArgumentException("--uid " + spec + ": no such user");
        }
        return pw.getInt(LibC.PASSWD_UID_OFFSET);
    }

    /** The primary group of user {@code spec}, or, for a number with no such user, the same number. */
    static int primaryGroup(String spec) {
        Pointer pw = isNumber(spec) ? null : LibC.getpwnam(spec);
        if (pw == null) {
            return user(spec);
        }
        return pw.getInt(LibC.PASSWD_GID_OFFSET);
    }

    /** {@code spec} as a gid: a number, or a group name. */
    static int group(String spec) {
        if (isNumber(spec)) {
            return Integer.parseUnsignedInt(spec);
        }
        Pointer gr = LibC.getgrnam(spec);
        if (gr == null) {
            throw new IllegalArgumentException("--gid " + spec + ": no such group");
        }
        return gr.getInt(LibC.GROUP_GID_OFFSET);
    }

    private static boolean isNumber(String spec) {
        return !spec.isEmpty() && spec.length() <= 10 && spec.chars().allMatch(Character::isDigit) && Long.parseLong(spec) <= 0xffff_fffeL;
    }
}
