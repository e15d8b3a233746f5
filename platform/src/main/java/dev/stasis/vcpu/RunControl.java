package dev.stasis.vcpu;

import dev.stasis.os.VcpuKick;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Pause, resume and stop of all vCPU threads. {@link #pauseAll} returns only when every running vCPU
 * thread is parked outside KVM_RUN, so the caller may then read or write any vCPU and device state.
 */
public final class RunControl {
    private final List<Vcpu> vcpus;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private volatile boolean pauseRequested;
    private volatile boolean stopRequested;
    private int parked;
    private int active;
    /** Auto-converge (live migration): the share of time, in percent, vCPUs sleep between KVM_RUNs; 0 = off. */
    private volatile int throttlePercent;
    /** The one kicker thread; a kicker that is no longer this one ends (so re-enabling never leaves two). */
    private volatile Thread throttleKicker;

    public RunControl(List<Vcpu> vcpus) {
        this.vcpus = List.copyOf(vcpus);
    }

    void enter() {
        lock.lock();
        try {
            active++;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    void leave() {
        lock.lock();
        try {
            active--;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Called by a vCPU thread before each KVM_RUN: parks while a pause is requested, after running
     * {@code beforeParking} on its own thread. Returns false when the thread must end.
     */
    boolean awaitRunnable(Runnable beforeParking) {
        if (!pauseRequested && !stopRequested) { // racy fast path; a missed pause is caught by the pending kick
            return true;
        }
        if (pauseRequested && !stopRequested) {
            beforeParking.run();
        }
        lock.lock();
        try {
            if (pauseRequested && !stopRequested) {
                parked++;
                changed.signalAll();
                while (pauseRequested && !stopRequested) {
                    changed.awaitUninterruptibly();
                }
                parked--;
                changed.signalAll();
            }
            return !stopRequested;
        } finally {
            lock.unlock();
        }
    }

    /** Stops every vCPU at its next exit and waits until all running vCPU threads are parked. */
    public void pauseAll() {
        lock.lock();
        try {
            pauseRequested = true;
        } finally {
            lock.unlock();
        }
        kickAll();
        lock.lock();
        try {
            while (parked < active && !stopRequested) {
                if (!changed.await(100, TimeUnit.MILLISECONDS)) {
                    kickAll(); // a thread that was between its check and KVM_RUN has a pending kick; re-kick is harmless
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while pausing vCPUs", e);
        } finally {
            lock.unlock();
        }
    }

    public void resumeAll() {
        lock.lock();
        try {
            pauseRequested = false;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether someone asked for a pause that no resume has ended: a command that pauses for its own work
     * resumes afterwards only when this was false, so it never resumes what a user or a migration holds.
     */
    public boolean isPauseRequested() {
        return pauseRequested;
    }

    public boolean isPaused() {
        lock.lock();
        try {
            return pauseRequested && parked >= active;
        } finally {
            lock.unlock();
        }
    }

    /** Ends every vCPU thread at its next exit. */
    public void stopAll() {
        lock.lock();
        try {
            stopRequested = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        kickAll();
    }

    /** Waits until no vCPU thread is in its loop any more. */
    public boolean awaitAllLeft(long timeoutMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        lock.lock();
        try {
            while (active > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                if (!changed.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(50)), TimeUnit.NANOSECONDS)) {
                    kickAll();
                }
            }
            return true;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Throttles every vCPU to run only {@code 100 - percent}% of the time (QEMU's auto-converge): each vCPU
     * sleeps after each {@link #THROTTLE_SLICE_NANOS} of running, and a kicker thread makes vCPUs that never
     * exit come out of KVM_RUN once a slice. 0 turns it off. Pause and stop wake sleeping vCPUs at once.
     */
    public void setThrottle(int percent) {
        if (percent < 0 || percent > 99) {
            throw new IllegalArgumentException("throttle must be 0..99 percent, got " + percent);
        }
        lock.lock();
        try {
            throttlePercent = percent;
            changed.signalAll();
            if (percent > 0 && throttleKicker == null) {
                throttleKicker = new Thread(this::kickWhileThrottled, "vcpu-throttle");
                throttleKicker.setDaemon(true);
                throttleKicker.start();
            } else if (percent == 0) {
                throttleKicker = null; // the kicker sees it is no longer the kicker and ends
            }
        } finally {
            lock.unlock();
        }
    }

    public int throttlePercent() {
        return throttlePercent;
    }

    static final long THROTTLE_SLICE_NANOS = 10_000_000;

    /** Called by a throttled vCPU thread: sleeps its share of {@code slice} unless a pause or stop comes. */
    void throttleSleep(int percent) {
        long nanos = THROTTLE_SLICE_NANOS * percent / (100 - percent);
        long deadline = System.nanoTime() + nanos;
        lock.lock();
        try {
            long left;
            while (!pauseRequested && !stopRequested && throttlePercent > 0 && (left = deadline - System.nanoTime()) > 0) {
                changed.awaitNanos(left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            lock.unlock();
        }
    }

    private void kickWhileThrottled() {
        while (throttlePercent > 0 && !stopRequested && throttleKicker == Thread.currentThread()) {
            kickAll();
            try {
                Thread.sleep(THROTTLE_SLICE_NANOS / 1_000_000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void kickAll() {
        for (Vcpu v : vcpus) {
            int tid = v.tid();
            if (tid != 0) {
                try {
                    VcpuKick.kick(tid);
                } catch (RuntimeException ignored) {
                    // The thread already ended (ESRCH): nothing to kick.
                }
            }
        }
    }
}
