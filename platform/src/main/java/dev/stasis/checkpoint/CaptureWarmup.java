package dev.stasis.checkpoint;

import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.machine.Machine;

/**
 * The first capture in a process loads and links every class of the state path (each part's state, the vCPU's
 * registers, the LAPIC page decoder): 35–130 ms here, inside the pause of a live snapshot, where the guest stands
 * still. So before the first pause, a scratch machine ({@link Machine#scratch}) is captured twice while the
 * guest still runs; later snapshots in the process skip it.
 */
final class CaptureWarmup {
    private CaptureWarmup() {}

    private static volatile boolean done;

    /** Warms the capture path once per process; failing only costs speed, so it never throws. */
    static void once(GuestCpu cpu) {
        if (done) {
            return;
        }
        synchronized (CaptureWarmup.class) {
            if (done) {
                return;
            }
            try (Machine scratch = Machine.scratch(cpu)) {
                for (int i = 0; i < 2; i++) {
                    Checkpoint.capture(scratch, false);
                }
            } catch (RuntimeException | LinkageError e) {
                // only ever made the pause shorter
            }
            done = true;
        }
    }
}
