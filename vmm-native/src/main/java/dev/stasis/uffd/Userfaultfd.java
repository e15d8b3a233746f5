package dev.stasis.uffd;

import static dev.stasis.uffd.UffdLayout.*;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.os.Errno;
import dev.stasis.os.EventFd;
import dev.stasis.os.LibC;
import dev.stasis.os.NativeException;

/**
 * A userfaultfd: ranges of this process's memory registered with it report their faults here as messages,
 * and the faulting threads (vCPU threads inside KVM_RUN included) sleep until a call here resolves them.
 * Write-protect mode serves live snapshots; missing mode ({@link #copy}, {@link #zeroPage}) is there for
 * lazy restore and post-copy.
 *
 * <p>Opened through {@code /dev/userfaultfd} (Linux 6.1; access is the device's file mode) or else the
 * userfaultfd(2) system call (needs CAP_SYS_PTRACE, or {@code vm.unprivileged_userfaultfd=1}). Never with
 * {@code UFFD_USER_MODE_ONLY}: KVM touches guest memory from the kernel (its page fault handler, and
 * copy_to_user for kvmclock and other pages it writes), and those faults must be served, not turned into
 * SIGBUS. The descriptor is non-blocking: {@link #await} then {@link #read}.
 *
 * <p>Closing it (or the process ending) wakes every thread still waiting on a fault and lets their
 * accesses go through: a VMM that dies cannot leave its guest hung on a fault.
 */
public final class Userfaultfd implements AutoCloseable {
    private static final String DEVICE = "/dev/userfaultfd";
    /** The page size the retries of the *WhereMissing calls step by. */
    private static final int PAGE = 4096;

    private final int fd;
    /** The features this descriptor was opened with. */
    private final long features;
    private volatile boolean closed;
    /** Argument buffers for the range ioctls, one per thread: the fault handler issues them per fault. */
    private final ThreadLocal<Memory> scratch = ThreadLocal.withInitial(() -> new Memory(COPY_SIZE));
    private final ThreadLocal<Memory> pollFds = ThreadLocal.withInitial(() -> new Memory(2L * LibC.POLLFD_SIZE));

    private Userfaultfd(int fd, long features) {
        this.fd = fd;
        this.features = features;
    }

    /**
     * A userfaultfd with every feature of {@code required} and those of {@code optional} this kernel has.
     * Throws {@link UffdUnavailableException} naming what is missing (the device, the permission, the system
     * call, or a feature and the kernel that brought it).
     */
    public static Userfaultfd open(long required, long optional) {
        long available = available();
        if ((available & required) != required) {
            throw new UffdUnavailableException("this kernel's userfaultfd lacks " + describe(required & ~available));
        }
        int fd = create();
        try {
            long features = required | (optional & available);
            api(fd, features);
            return new Userfaultfd(fd, features);
        } catch (RuntimeException e) {
            LibC.close(fd);
            throw e;
        }
    }

    /** The kernel's features, asked once a process (0 until then): the same answer for every descriptor. */
    private static volatile long kernelFeatures;

    /**
     * What this kernel's userfaultfd offers. UFFDIO_API may be issued once per descriptor: a first one is asked, once a
     * process, not before every open (a lazy restore's set-up). A failure is not kept: the next open tries again.
     */
    private static long available() {
        long known = kernelFeatures;
        if (known != 0) {
            return known;
        }
        int probe = create();
        try {
            known = api(probe, 0);
        } finally {
            LibC.close(probe);
        }
        kernelFeatures = known;
        return known;
    }

    /** Null when a write-protect userfaultfd opens here, else why not (one line, naming the fix). */
    public static String unavailabilityCause() {
        try (Userfaultfd u = open(UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0)) {
            return null;
        } catch (UffdUnavailableException e) {
            return e.getMessage();
        }
    }

    private static int create() {
        String device;
        int dev = LibC.open(DEVICE, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (dev >= 0) {
            int fd = LibC.ioctl(dev, UffdIoctl.USERFAULTFD_IOC_NEW.request, LibC.O_CLOEXEC | LibC.O_NONBLOCK);
            int errno = Native.getLastError();
            LibC.close(dev);
            if (fd >= 0) {
                return fd;
            }
            device = DEVICE + " refuses USERFAULTFD_IOC_NEW: " + Errno.describe(errno);
        } else {
            int errno = Native.getLastError();
            device = errno == Errno.ENOENT ? "no " + DEVICE + " (Linux 6.1+)"
                    : DEVICE + ": " + Errno.describe(errno) + (errno == Errno.EACCES ? " (its mode is 0600 root by default: run as root or chmod/chgrp it)" : "");
        }
        long fd = LibC.syscall(LibC.SYS_USERFAULTFD, LibC.O_CLOEXEC | LibC.O_NONBLOCK, 0, 0);
        if (fd >= 0) {
            return (int) fd;
        }
        int errno = Native.getLastError();
        String syscall = switch (errno) {
            case 38 -> "the kernel has no userfaultfd system call (built without CONFIG_USERFAULTFD)"; // ENOSYS
            case Errno.EPERM -> "the userfaultfd system call is refused: EPERM (needs CAP_SYS_PTRACE, or sysctl vm.unprivileged_userfaultfd=1)";
            default -> "the userfaultfd system call failed: " + Errno.describe(errno);
        };
        throw new UffdUnavailableException("userfaultfd is unavailable: " + device + ", and " + syscall);
    }

    private static long api(int fd, long wanted) {
        Memory a = new Memory(API_SIZE);
        a.clear();
        a.setLong(API_API, UFFD_API);
        a.setLong(API_FEATURES, wanted);
        if (LibC.ioctl(fd, UffdIoctl.UFFDIO_API.request, a) < 0) {
            int errno = Native.getLastError();
            throw new UffdUnavailableException("userfaultfd refuses UFFDIO_API (features " + describe(wanted) + "): " + Errno.describe(errno));
        }
        return a.getLong(API_FEATURES);
    }

    /** Names for the features stasis asks for, with the kernel that brought each. */
    static String describe(long features) {
        StringBuilder b = new StringBuilder();
        if ((features & UFFD_FEATURE_PAGEFAULT_FLAG_WP) != 0) {
            b.append("write-protect mode (UFFD_FEATURE_PAGEFAULT_FLAG_WP, Linux 5.7+) ");
        }
        long other = features & ~UFFD_FEATURE_PAGEFAULT_FLAG_WP;
        if (other != 0) {
            b.append("features 0x").append(Long.toHexString(other)).append(' ');
        }
        return b.length() == 0 ? "nothing" : b.toString().trim();
    }

    public int fd() {
        return fd;
    }

    /** UFFDIO_REGISTER of {@code [address, address + length)} in {@code mode}; returns the ioctls the range allows. */
    public long register(long address, long length, long mode) {
        Memory m = range(address, length);
        m.setLong(REGISTER_MODE, mode);
        m.setLong(REGISTER_IOCTLS, 0);
        ioctl(UffdIoctl.UFFDIO_REGISTER, m, address, length);
        long ioctls = m.getLong(REGISTER_IOCTLS);
        if ((mode & UFFDIO_REGISTER_MODE_WP) != 0 && (ioctls & (1L << _UFFDIO_WRITEPROTECT)) == 0) {
            throw new UffdUnavailableException(String.format("userfaultfd cannot write-protect the range 0x%x+0x%x (its memory type has no WP mode here)", address, length));
        }
        return ioctls;
    }

    public void unregister(long address, long length) {
        ioctl(UffdIoctl.UFFDIO_UNREGISTER, range(address, length), address, length);
    }

    /**
     * UFFDIO_WRITEPROTECT: {@code protect} makes writes to the range fault here; clearing it lets them through
     * and wakes the threads waiting on a fault in the range.
     */
    public void writeProtect(long address, long length, boolean protect) {
        Memory m = range(address, length);
        m.setLong(WRITEPROTECT_MODE, protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0);
        ioctl(UffdIoctl.UFFDIO_WRITEPROTECT, m, address, length);
    }

    /** UFFDIO_COPY: fills missing pages {@code [dst, dst + length)} from {@code src} atomically, waking the waiters. */
    public void copy(long dst, Pointer src, long length) {
        Memory m = scratch.get();
        m.setLong(COPY_DST, dst);
        m.setLong(COPY_SRC, Pointer.nativeValue(src));
        m.setLong(COPY_LEN, length);
        m.setLong(COPY_MODE, 0);
        m.setLong(COPY_COPY, 0);
        ioctl(UffdIoctl.UFFDIO_COPY, m, dst, length);
    }

    /**
     * {@link #copy}, but a page of the run that is there already (EEXIST: someone filled it first) is skipped
     * rather than failing the rest: the run is retried a page at a time.
     */
    public void copyWhereMissing(long dst, Pointer src, long length) {
        try {
            copy(dst, src, length);
        } catch (UffdException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            for (long off = 0; off < length; off += PAGE) {
                try {
                    copy(dst + off, src.share(off), PAGE);
                } catch (UffdException x) {
                    if (x.errno() != Errno.EEXIST) {
                        throw x;
                    }
                }
            }
        }
    }

    /** Whether this kernel's userfaultfd can move pages (UFFD_FEATURE_MOVE, Linux 6.8). */
    public static boolean movesPages() {
        return (available() & UFFD_FEATURE_MOVE) != 0;
    }

    /** Whether this descriptor moves pages ({@link #move}): opened with UFFD_FEATURE_MOVE, which Linux 6.8 brought. */
    public boolean moves() {
        return (features & UFFD_FEATURE_MOVE) != 0;
    }

    /**
     * UFFDIO_MOVE: moves the pages of {@code [src, src + length)} (anonymous, private, of this process, not shared) to
     * the missing pages {@code [dst, dst + length)} without copying them, a transparent huge page whole where both
     * ranges are aligned to it; holes in the source are passed over (their destination stays missing); wakes the
     * waiters. Afterwards the source range is holes. Throws {@link UffdException} when a page could not be moved (the
     * pages before it are moved); only where {@link #moves}.
     */
    public void move(long dst, long src, long length) {
        Memory m = scratch.get();
        m.setLong(MOVE_DST, dst);
        m.setLong(MOVE_SRC, src);
        m.setLong(MOVE_LEN, length);
        m.setLong(MOVE_MODE, UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES);
        m.setLong(MOVE_MOVE, 0);
        ioctl(UffdIoctl.UFFDIO_MOVE, m, dst, length); // retried whole on EAGAIN: the pages moved are holes by then
    }

    /** {@link #zeroPage}, where a page there already (EEXIST) only wakes its waiters. */
    public void zeroPageWhereMissing(long address, long length) {
        try {
            zeroPage(address, length);
        } catch (UffdException e) {
            if (e.errno() != Errno.EEXIST) {
                throw e;
            }
            if (length > PAGE) {
                for (long off = 0; off < length; off += PAGE) {
                    zeroPageWhereMissing(address + off, PAGE);
                }
            } else {
                wake(address, length);
            }
        }
    }

    /** UFFDIO_ZEROPAGE: maps zero pages at missing {@code [address, address + length)}, waking the waiters. */
    public void zeroPage(long address, long length) {
        Memory m = range(address, length);
        m.setLong(ZEROPAGE_MODE, 0);
        m.setLong(ZEROPAGE_ZEROPAGE, 0);
        ioctl(UffdIoctl.UFFDIO_ZEROPAGE, m, address, length);
    }

    /** UFFDIO_WAKE: wakes threads waiting on a fault in the range, changing nothing. */
    public void wake(long address, long length) {
        ioctl(UffdIoctl.UFFDIO_WAKE, range(address, length), address, length);
    }

    /**
     * Waits up to {@code timeoutMillis} (-1: no limit) until a message can be read or {@code stop} is signalled;
     * true when there is something to {@link #read}.
     */
    public boolean await(EventFd stop, int timeoutMillis) {
        Memory fds = pollFds.get(); // a fault thread calls this once per batch of faults: no allocation on that path
        fds.clear();
        fds.setInt(0, fd);
        fds.setShort(LibC.POLLFD_EVENTS, (short) LibC.POLLIN);
        fds.setInt(LibC.POLLFD_SIZE, stop.fd());
        fds.setShort(LibC.POLLFD_SIZE + LibC.POLLFD_EVENTS, (short) LibC.POLLIN);
        while (true) {
            int n = LibC.poll(fds, 2, timeoutMillis);
            if (n >= 0) {
                return n > 0 && (fds.getShort(LibC.POLLFD_REVENTS) & LibC.POLLIN) != 0;
            }
            int errno = Native.getLastError();
            if (errno != Errno.EINTR) {
                throw new NativeException("poll", errno, "userfaultfd " + fd);
            }
        }
    }

    /** A buffer for {@link #read} of up to {@code messages} messages. */
    public static Memory messageBuffer(int messages) {
        return new Memory((long) messages * MSG_SIZE);
    }

    /** Reads the pending messages into {@code buffer}; returns how many (0 when none is pending). */
    public int read(Memory buffer) {
        if (closed) {
            throw new NativeException("read(userfaultfd)", Errno.EBADF, "descriptor closed");
        }
        long n = LibC.read(fd, buffer, buffer.size() / MSG_SIZE * MSG_SIZE);
        if (n < 0) {
            int errno = Native.getLastError();
            if (errno == Errno.EAGAIN || errno == Errno.EINTR) {
                return 0;
            }
            throw new NativeException("read(userfaultfd)", errno, "fd " + fd);
        }
        return (int) (n / MSG_SIZE);
    }

    /** Message {@code index} of a buffer {@link #read} filled, or null if it is not a page fault. */
    public static PageFault fault(Memory buffer, int index) {
        return PageFault.at(buffer, index);
    }

    private Memory range(long address, long length) {
        Memory m = scratch.get();
        m.setLong(RANGE_START, address);
        m.setLong(RANGE_LEN, length);
        return m;
    }

    /** EAGAIN means the address space was changing under the call (mremap, fork): it is retried. */
    private void ioctl(UffdIoctl ioctl, Memory arg, long address, long length) {
        if (closed) {
            throw new UffdException(ioctl, Errno.EBADF, String.format("0x%x+0x%x, descriptor closed", address, length));
        }
        while (LibC.ioctl(fd, ioctl.request, arg) < 0) {
            int errno = Native.getLastError();
            if (errno != Errno.EAGAIN && errno != Errno.EINTR) {
                throw new UffdException(ioctl, errno, String.format("0x%x+0x%x", address, length)); // formatted only on failure: per fault otherwise
            }
        }
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibC.close(fd);
        }
    }
}
