package dev.stasis.os;

/** A failed libc call, with the call, the errno and the resource it was about. */
public class NativeException extends RuntimeException {
    private final int errno;

    public NativeException(String call, int errno, String context) {
        super(call + " failed: " + Errno.describe(errno) + (context == null || context.isEmpty() ? "" : " (" + context + ")"));
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
