package dev.stasis.os;

import com.sun.jna.Memory;
import com.sun.jna.Native;

/**
 * An eventfd(2) used as a wake-up: a thread blocked in poll(2) on another descriptor polls this one too,
 * and {@link #signal} ends its wait at once, so a server thread stops without a polling timeout.
 */
public final class EventFd implements AutoCloseable {
    private final int fd;
    private volatile boolean closed;

    public EventFd() {
        int f = LibC.eventfd(0, LibC.EFD_CLOEXEC | LibC.EFD_NONBLOCK);
        if (f < 0) {
            throw new NativeException("eventfd", Native.getLastError(), "");
        }
        this.fd = f;
    }

    public int fd() {
        return fd;
    }

    /** Makes the descriptor readable (the counter stays non-zero: every later poll sees it too). */
    public void signal() {
        Memory one = new Memory(8);
        one.setLong(0, 1);
        if (LibC.write(fd, one, 8) != 8) {
            throw new NativeException("write(eventfd)", Native.getLastError(), "fd " + fd);
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
