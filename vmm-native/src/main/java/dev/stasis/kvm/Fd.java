package dev.stasis.kvm;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;

/** A KVM file descriptor: the one place ioctls are issued and their failures turned into {@link KvmException}s. */
abstract class Fd implements AutoCloseable {
    private final int fd;
    private volatile boolean closed;

    Fd(int fd) {
        this.fd = fd;
    }

    public final int fd() {
        return fd;
    }

    /**
     * Refuses calls on a closed descriptor: its number may already belong to another file (even another VM),
     * which the ioctl would then act on.
     */
    final void checkOpen(KvmIoctl ioctl, String context) {
        if (closed) {
            throw new KvmException(ioctl, Errno.EBADF, context + (context.isEmpty() ? "" : ", ") + "descriptor closed");
        }
    }

    final int ioctl(KvmIoctl ioctl, Pointer arg, String context) {
        checkOpen(ioctl, context);
        int r = LibC.ioctl(fd, ioctl.request, arg);
        if (r < 0) {
            throw new KvmException(ioctl, Native.getLastError(), context);
        }
        return r;
    }

    final int ioctl(KvmIoctl ioctl, long arg, String context) {
        checkOpen(ioctl, context);
        int r = LibC.ioctl(fd, ioctl.request, arg);
        if (r < 0) {
            throw new KvmException(ioctl, Native.getLastError(), context);
        }
        return r;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            LibC.close(fd);
        }
    }
}
