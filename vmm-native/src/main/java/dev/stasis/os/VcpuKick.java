package dev.stasis.os;

import com.sun.jna.Memory;
import com.sun.jna.Native;

/**
 * Kicking a vCPU thread out of {@code KVM_RUN} with SIGUSR1, race-free (the QEMU scheme):
 * <ol>
 *   <li>the vCPU thread blocks SIGUSR1 for itself ({@link #blockInCurrentThread()}) and gives KVM a mask
 *       without it ({@link #runMask()} for KVM_SET_SIGNAL_MASK), so the signal is deliverable only inside
 *       KVM_RUN;</li>
 *   <li>a kick ({@link #kick(int)}) that lands outside KVM_RUN stays pending, so the next KVM_RUN returns
 *       EINTR at once: a kick is never lost;</li>
 *   <li>after EINTR the thread consumes the pending signal ({@link #drainPending()}), which KVM left pending.</li>
 * </ol>
 * A no-op handler is installed as well: HotSpot restores a Java thread's original signal mask when the
 * thread ends, and a kick still pending then would otherwise be delivered with the default, fatal action.
 */
public final class VcpuKick {
    private VcpuKick() {}

    static {
        sun.misc.Signal.handle(new sun.misc.Signal("USR1"), signal -> { });
    }

    public static final int SIGNAL = LibC.SIGUSR1;
    /** glibc's sigset_t is 1024 bits. */
    private static final int SIGSET_BYTES = 128;

    public static int currentTid() {
        return (int) LibC.syscall(LibC.SYS_GETTID, 0, 0, 0);
    }

    private static Memory kickSet() {
        Memory set = new Memory(SIGSET_BYTES);
        set.clear();
        set.setLong(0, 1L << (SIGNAL - 1));
        return set;
    }

    public static void blockInCurrentThread() {
        int r = LibC.pthread_sigmask(LibC.SIG_BLOCK, kickSet(), null);
        if (r != 0) {
            throw new NativeException("pthread_sigmask(SIG_BLOCK, SIGUSR1)", r, "");
        }
    }

    /** The current thread's signal mask without the kick signal, as the kernel's 64-bit sigset. */
    public static long runMask() {
        Memory old = new Memory(SIGSET_BYTES);
        old.clear();
        int r = LibC.pthread_sigmask(LibC.SIG_BLOCK, null, old);
        if (r != 0) {
            throw new NativeException("pthread_sigmask", r, "reading the mask");
        }
        return old.getLong(0) & ~(1L << (SIGNAL - 1));
    }

    /** Sends the kick signal to thread {@code tid} of this process. */
    public static void kick(int tid) {
        long r = LibC.syscall(LibC.SYS_TGKILL, LibC.getpid(), tid, SIGNAL);
        if (r != 0) {
            throw new NativeException("tgkill", Native.getLastError(), "tid " + tid);
        }
    }

    /** The buffers {@link #drainPending} needs, allocated once per thread: kicks come every few ms under auto-converge. */
    private static final ThreadLocal<Memory[]> DRAIN = ThreadLocal.withInitial(() -> {
        Memory zeroTimeout = new Memory(16);
        zeroTimeout.clear();
        return new Memory[] {kickSet(), new Memory(128), zeroTimeout};
    });

    /** Consumes a pending kick in the current thread, if any; returns whether there was one. */
    public static boolean drainPending() {
        Memory[] m = DRAIN.get();
        return LibC.sigtimedwait(m[0], m[1], m[2]) == SIGNAL;
    }
}
