package dev.stasis.os;

/** Names for the errno values a VMM meets, so messages say {@code EINVAL}, not 22. */
public final class Errno {
    private Errno() {}

    public static final int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11, ENOMEM = 12,
            EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOSPC = 28,
            E2BIG = 7, ENOTTY = 25, ENXIO = 6, EOPNOTSUPP = 95;

    /** {@code "EINVAL (Invalid argument)"}. */
    public static String describe(int errno) {
        return name(errno) + " (" + LibC.strerror(errno) + ")";
    }

    public static String name(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM"; case ENOENT -> "ENOENT"; case EINTR -> "EINTR"; case EIO -> "EIO";
            case ENXIO -> "ENXIO"; case E2BIG -> "E2BIG"; case EBADF -> "EBADF"; case EAGAIN -> "EAGAIN";
            case ENOMEM -> "ENOMEM"; case EACCES -> "EACCES"; case EFAULT -> "EFAULT"; case EBUSY -> "EBUSY";
            case EEXIST -> "EEXIST"; case ENODEV -> "ENODEV"; case EINVAL -> "EINVAL"; case ENOTTY -> "ENOTTY";
            case ENOSPC -> "ENOSPC"; case EOPNOTSUPP -> "EOPNOTSUPP";
            default -> "errno " + errno;
        };
    }
}
