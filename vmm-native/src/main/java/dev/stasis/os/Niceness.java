package dev.stasis.os;

/**
 * Background work at a lower CPU priority than the guest: on a small host the VMM's own busy threads (a live
 * snapshot's compressors, the warm-ups) shared the cores with the vCPUs and with the threads vCPUs wait on (a
 * fault server), and the guest felt it (ticker saw steps of 8-9 ms during a live write here, 10-14 ms during the
 * migration warm-up). At nice 10 a woken vCPU preempts them at once. Only ever lowered: raising it back needs
 * CAP_SYS_NICE, so only threads that do nothing else are marked.
 */
public final class Niceness {
    /** The nice value of background threads. */
    public static final int BACKGROUND = 10;

    private Niceness() {}

    /** Lowers the calling thread's priority (Linux keeps a nice value per thread); false where the kernel refused. */
    public static boolean background() {
        return LibC.setpriority(LibC.PRIO_PROCESS, 0, BACKGROUND) == 0;
    }

    /** A thread that runs {@code body} at background priority. */
    public static Thread backgroundThread(Runnable body) {
        return new Thread(() -> {
            background();
            body.run();
        });
    }

    /** The calling thread's nice value (-20..19; glibc's getpriority returns it as is). */
    public static int current() {
        return LibC.getpriority(LibC.PRIO_PROCESS, 0);
    }
}
