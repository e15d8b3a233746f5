package dev.stasis.os;

/**
 * Background work at a lower CPU priority than the guest: on a small host the VMM's own busy threads (a live
 * snapshot's compressors, the warm-ups, a lazy restore's fill) shared the cores with the vCPUs and with the threads
 * vCPUs wait on (a fault server), and the guest felt it (ticker's largest step over a live write 8.5-9.0 ms, 5.9-6.6
 * at nice 10, the same build toggled). At nice 10 a woken vCPU preempts them at once. Only ever lowered: raising it
 * back needs CAP_SYS_NICE, so only threads that do nothing else are marked, and a thread already nicer stays so.
 */
public final class Niceness {
    /** The nice value of background threads. */
    public static final int BACKGROUND = 10;

    private Niceness() {}

    /**
     * Lowers the calling thread's priority to {@link #BACKGROUND} (Linux keeps a nice value per thread), or leaves it
     * where it is already lower (a VMM started under {@code nice -n 15} is not raised, as root could); false where the
     * kernel refused.
     */
    public static boolean background() {
        return LibC.setpriority(LibC.PRIO_PROCESS, 0, Math.max(current(), BACKGROUND)) == 0;
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
