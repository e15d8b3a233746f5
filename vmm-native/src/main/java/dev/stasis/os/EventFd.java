package dev.stasis.os;

import com.sun.jna.Memory;
import com.sun.jna.Native;

/**
 * An eventfd(2) used as a wake-up: a thread blocked in poll(2) on another descriptor polls this one too,
 * and {@link #signal} ends its wait at once, so a server thread stops without a polling timeout. A
 * {@link #blocking()} one is a doorbell a thread sleeps on in {@link #take} (a virtqueue's notification, which KVM
 * may ring itself through an ioeventfd, as it raises an interrupt through an irqfd).
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    private volatile boolean closed;

    private final Memory counter = new Memory(8);
    private final Memory one = new Memory(8);

    public EventFd() {
        this(LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
    }

    private EventFd(int flags) {
        int f = LibC.eventfd(0, flags);
        if (f < 0) {
            throw new NativeException("eventfd", Native.getLastError(), "");
        }
        this.fd = f;
        one.setLong(0, 1);
    }

    /** An eventfd whose {@link #take} sleeps until it is signalled. */
    public static EventFd blocking() {
        return new EventFd(LibC.EFD_CLOEXEC);
    }

    /**
     * Reads and resets the counter: how many signals came since the last take (sleeping until one comes, for a
     * {@link #blocking()} one; 0 at once when none came, for the other kind).
     */
    public long take() {
        synchronized (counter) {
            long n = LibC.read(fd, counter, 8);
            if (n == 8) {
                return counter.getLong(0);
            }
            int errno = Native.getLastError();
            if (errno == Errno.EAGAIN || errno == Errno.EINTR) {
                return 0;
            }
            throw new NativeException("read(eventfd)", errno, "fd " + fd);
        }
    }

    public int fd() {
        return fd;
    }

    /** Makes the descriptor readable (the counter stays non-zero: every later poll sees it too). */
    public void signal() {
        synchronized (one) {
            if (LibC.write(fd, one, 8) != 8) {
                throw new NativeException("write(eventfd)", Native.getLastError(), "fd " + fd);
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
