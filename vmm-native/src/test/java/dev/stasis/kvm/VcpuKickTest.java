package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.os.VcpuKick;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The vCPU kick on a guest that never exits by itself ({@code pause; jmp}): a kick ends KVM_RUN promptly,
 * every time, and a kick sent while the vCPU thread is outside KVM_RUN is not lost.
 */
@RequiresKvm
class VcpuKickTest {
    static final byte[] SPIN = TinyGuest.bytes(0xf3, 0x90, 0xeb, 0xfc); // 1: pause; jmp 1b
    static final long LIMIT_NS = TimeUnit.MILLISECONDS.toNanos(100);

    /** A vCPU thread that runs KVM_RUN once per {@link #go} permit and reports how it ended. */
    static final class VcpuThread implements AutoCloseable {
        final TinyGuest guest;
        final Semaphore go = new Semaphore(0);
        final Semaphore done = new Semaphore(0);
        final Semaphore ready = new Semaphore(0);
        volatile int tid;
        volatile boolean result;
        volatile long returnedAt;
        volatile boolean drained;
        volatile boolean stop;
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        final Thread thread;

        VcpuThread(TinyGuest guest) throws InterruptedException {
            this.guest = guest;
            thread = new Thread(this::loop, "kick-test-vcpu");
            thread.setDaemon(true);
            thread.start();
            assertTrue(ready.tryAcquire(5, TimeUnit.SECONDS));
        }

        private void loop() {
            try {
                VcpuKick.blockInCurrentThread();
                guest.vcpu.setSignalMask(VcpuKick.runMask());
                tid = VcpuKick.currentTid();
                ready.release();
                while (true) {
                    go.acquire();
                    if (stop) {
                        return;
                    }
                    result = guest.vcpu.run();
                    returnedAt = System.nanoTime();
                    drained = VcpuKick.drainPending();
                    done.release();
                }
            } catch (Throwable t) {
                failure.set(t);
                done.release();
            } finally {
                VcpuKick.drainPending();
            }
        }

        /** Lets the thread enter KVM_RUN once; waits for it to come back, at most a second. */
        void awaitReturn() throws InterruptedException {
            assertTrue(done.tryAcquire(1, TimeUnit.SECONDS), "the vCPU thread did not leave KVM_RUN within 1 s");
            assertNull(failure.get());
        }

        @Override
        public void close() throws InterruptedException {
            stop = true;
            go.release();
            for (int i = 0; i < 50 && thread.isAlive(); i++) {
                try {
                    VcpuKick.kick(tid);
                } catch (dev.stasis.os.NativeException e) {
                    if (e.errno() != 3) { // ESRCH: the OS thread ended before Thread.isAlive() turned false
                        throw e;
                    }
                }
                thread.join(20);
            }
        }
    }

    @Test
    void aKickEndsKvmRunWithin100Ms100TimesInARow() throws Exception {
        try (TinyGuest g = TinyGuest.create(true).load(SPIN); VcpuThread v = new VcpuThread(g)) {
            long worst = 0;
            for (int i = 0; i < 100; i++) {
                v.go.release();
                Thread.sleep(3); // long enough to be inside KVM_RUN most times; a kick just before it is pending and counts too
                long kickedAt = System.nanoTime();
                VcpuKick.kick(v.tid);
                v.awaitReturn();
                assertFalse(v.result, "round " + i + ": KVM_RUN ended with an exit (" + KvmRun.exitName(g.vcpu.runPage().exitReason())
                        + ") instead of EINTR");
                assertTrue(v.drained, "round " + i + ": the kick was not left pending for drainPending");
                long took = v.returnedAt - kickedAt;
                worst = Math.max(worst, took);
                assertTrue(took < LIMIT_NS, "round " + i + ": KVM_RUN returned " + took / 1000 + " µs after the kick");
            }
            long rip = g.vcpu.getRegs().rip();
            assertTrue(rip >= TinyGuest.CODE && rip < TinyGuest.CODE + SPIN.length, "the guest was spinning: rip=0x" + Long.toHexString(rip));
            System.out.printf("VcpuKickTest: worst kick-to-return %d µs%n", worst / 1000);
        }
    }

    @Test
    void aKickOutsideKvmRunMakesTheNextRunReturnAtOnce() throws Exception {
        try (TinyGuest g = TinyGuest.create(true).load(SPIN); VcpuThread v = new VcpuThread(g)) {
            for (int i = 0; i < 20; i++) {
                VcpuKick.kick(v.tid); // the thread is parked on the semaphore, the signal blocked: it stays pending
                Thread.sleep(1);
                long start = System.nanoTime();
                v.go.release();
                v.awaitReturn();
                assertFalse(v.result, "round " + i + ": a pending kick must make KVM_RUN return EINTR");
                assertTrue(v.returnedAt - start < LIMIT_NS, "round " + i + ": took " + (v.returnedAt - start) / 1000 + " µs");
                assertTrue(v.drained, "round " + i + ": the kick was consumed by drainPending");
            }
        }
    }

    @Test
    void drainPendingWithNoKickReturnsFalse() {
        VcpuKick.blockInCurrentThread();
        try {
            assertFalse(VcpuKick.drainPending());
            VcpuKick.kick(VcpuKick.currentTid());
            assertTrue(VcpuKick.drainPending());
            assertFalse(VcpuKick.drainPending());
        } finally {
            // Unblock again: this is a surefire worker thread.
            com.sun.jna.Memory set = new com.sun.jna.Memory(128);
            set.clear();
            set.setLong(0, 1L << (VcpuKick.SIGNAL - 1));
            dev.stasis.os.LibC.pthread_sigmask(dev.stasis.os.LibC.SIG_UNBLOCK, set, null);
        }
    }
}
