package dev.stasis.kvm;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
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

    final int ioctl(KvmIoctl ioctl, Pointer arg, String context) {
        int r = LibC.ioctl(fd, ioctl.request, arg);
        if (r < 0) {
            throw new KvmException(ioctl, Native.getLastError(), context);
        }
        return r;
    }

    final int ioctl(KvmIoctl ioctl, long arg, String context) {
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
