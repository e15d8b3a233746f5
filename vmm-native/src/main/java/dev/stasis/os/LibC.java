package dev.stasis.os;

import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The libc calls a VMM needs, bound once by JNA direct mapping.
 *
 * <p>{@code ioctl} is variadic in C; on x86-64 a fixed third argument (pointer or integer) is passed
 * exactly as the variadic one would be, so we declare one overload per argument kind. Errors come back
 * as -1 with the errno in {@link Native#getLastError()}: callers turn that into an exception with context
 * (see {@link Errno}).
 */
public final class LibC {
    static {
        Native.register(com.sun.jna.NativeLibrary.getInstance("c"));
    }

    private LibC() {}

    public static final int O_RDONLY = 0x0;
    public static final int O_RDWR = 0x2;
    public static final int O_NOFOLLOW = 0x20000;
    public static final int O_CLOEXEC = 0x80000;
    public static final int O_NONBLOCK = 0x800;

    public static final int F_GETFD = 1;
    public static final int F_SETFD = 2;
    public static final int FD_CLOEXEC = 1;
    public static final int LOCK_SH = 1;
    public static final int LOCK_EX = 2;
    public static final int LOCK_NB = 4;
    public static final int LOCK_UN = 8;

    /** Offsets in glibc's {@code struct passwd} and {@code struct group} (x86-64), for {@link #getpwnam}/{@link #getgrnam}. */
    public static final int PASSWD_UID_OFFSET = 16;
    public static final int PASSWD_GID_OFFSET = 20;
    public static final int GROUP_GID_OFFSET = 16;

    public static final int PROT_NONE = 0x0;
    public static final int PROT_READ = 0x1;
    public static final int PROT_WRITE = 0x2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final long MAP_FAILED = -1L;

    public static final int MADV_DONTNEED = 4;
    public static final int MADV_HUGEPAGE = 14;
    public static final int MADV_DONTDUMP = 16;

    public static final int SIG_BLOCK = 0;
    public static final int SIG_UNBLOCK = 1;
    public static final int SIG_SETMASK = 2;
    public static final int SIGUSR1 = 10;

    public static final long SYS_GETTID = 186;
    public static final long SYS_TGKILL = 234;
    public static final long SYS_MEMFD_CREATE = 319;
    public static final long SYS_USERFAULTFD = 323;

    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;
    public static final int POLLIN = 0x1;
    public static final int POLLFD_SIZE = 8;
    public static final int POLLFD_EVENTS = 4;
    public static final int POLLFD_REVENTS = 6;

    public static native int open(String path, int flags);
    public static native int close(int fd);

    public static native long read(int fd, Pointer buf, long count);
    public static native long write(int fd, Pointer buf, long count);
    public static native int poll(Pointer fds, long nfds, int timeout);
    public static native int eventfd(int initval, int flags);

    public static native int ioctl(int fd, long request, Pointer arg);
    public static native int ioctl(int fd, long request, long arg);

    public static native Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset);
    public static native int munmap(Pointer addr, long length);
    /** A copy in native code: a fault on either side waits with the thread in native, not holding up the JVM's safepoints. */
    public static native Pointer memcpy(Pointer dest, Pointer src, long n);
    public static native int madvise(Pointer addr, long length, int advice);
    public static native int ftruncate(int fd, long length);
    public static native long lseek(int fd, long offset, int whence);
    public static final int SEEK_END = 2;
    public static final int SEEK_DATA = 3;
    public static final int SEEK_HOLE = 4;

    /** Positional I/O and space management of disk images. */
    public static native long pread(int fd, Pointer buf, long count, long offset);
    public static native long pwrite(int fd, Pointer buf, long count, long offset);
    public static native int fallocate(int fd, int mode, long offset, long length);
    public static native int fdatasync(int fd);
    /** With SYNC_FILE_RANGE_WRITE: starts writing a range back without waiting, so a later fdatasync has less left. */
    public static native int sync_file_range(int fd, long offset, long nbytes, int flags);
    public static final int SYNC_FILE_RANGE_WRITE = 0x2;
    public static final int FALLOC_FL_KEEP_SIZE = 0x1;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x2;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    public static native long syscall(long number, long a, long b, long c);
    /** With PRIO_PROCESS and who 0, Linux sets the calling thread's nice value only (each thread has its own). */
    public static native int setpriority(int which, int who, int prio);
    public static native int getpriority(int which, int who);
    public static final int PRIO_PROCESS = 0;
    public static native int getpid();
    public static native int geteuid();

    /** {@code fcntl} is variadic; an integer third argument is passed as the variadic one would be (x86-64). */
    public static native int fcntl(int fd, int cmd, long arg);
    public static native int flock(int fd, int operation);

    /** NSS lookups; null when there is no such user or group. The result is libc's static buffer: read it at once. */
    public static native Pointer getpwnam(String name);
    public static native Pointer getgrnam(String name);

    /**
     * Replaces this process's image; returns only on failure. {@code argv} and {@code envp} are NULL-terminated
     * {@code char*} arrays ({@link com.sun.jna.StringArray}). Every descriptor without FD_CLOEXEC stays open in the
     * new image, and the JVM opens most without it: set it on all that must not cross first.
     */
    public static native int execve(String path, Pointer argv, Pointer envp);

    public static native int pthread_sigmask(int how, Pointer set, Pointer oldset);
    public static native int sigaction(int signum, Pointer act, Pointer oldact);
    public static native int sigtimedwait(Pointer set, Pointer info, Pointer timeout);
    public static native String strerror(int errnum);
}
