package dev.stasis.vm;

import dev.stasis.os.KeptThreads;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;

/**
 * A VM built ahead, one at a time, for a process that makes machines of one shape again and again (a restore service,
 * a benchmark's rounds): the KVM VM with its RAM's slots, irqchip, PIT and vCPUs (CPUID and MSRs set) was 2-5.6 ms
 * (median 3.2, 15 stamped rounds) of a 6-8 ms lazy restore in a running process on this software KVM's host. Asked for with {@link #keep}; a machine
 * created for exactly that config with zero-backed RAM takes it ({@code Machine.create}), and the next is built in the
 * background (at background priority, beside the guest just started). The VM has never run and its RAM is untouched,
 * as a VM just made.
 */
public final class ReadyVms {
    private ReadyVms() {}

    private static final KeptThreads BUILDER = new KeptThreads("stasis-ready-vm", true, 0, Duration.ofMinutes(1));

    // guarded by ReadyVms.class
    private static VmConfig wanted;
    private static Vm ready;
    private static boolean building;
    private static long taken;

    /**
     * From now on one VM of {@code config} is kept built for this process (null: none, and the one kept is closed).
     * A VM this host cannot build stops the keeping: the machine's own build then says why.
     */
    public static void keep(VmConfig config) {
        Vm discard;
        synchronized (ReadyVms.class) {
            if (Objects.equals(wanted, config)) {
                return;
            }
            wanted = config;
            discard = ready;
            ready = null;
            buildIfWanted();
            ReadyVms.class.notifyAll();
        }
        if (discard != null) {
            discard.close();
        }
    }

    /** The VM kept for {@code config}, now the caller's, or null (none asked for, or not built yet). */
    public static Vm take(VmConfig config) {
        synchronized (ReadyVms.class) {
            if (ready == null || !ready.config().equals(config)) {
                return null;
            }
            Vm vm = ready;
            ready = null;
            taken++;
            return vm; // the next is built once the machine has started (replenish): never beside the restore that took this one
        }
    }

    /** A machine has started (its vCPUs run): the VM it took, if any, is replaced now. */
    public static synchronized void replenish() {
        buildIfWanted();
    }

    /** How many kept VMs machines have taken in this process. */
    public static synchronized long taken() {
        return taken;
    }

    /**
     * Waits up to {@code timeout} for the VM asked for to be built; true once it is, false if none is asked for (or
     * its build failed) or the time ran out.
     */
    public static synchronized boolean awaitReady(Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (ready == null && wanted != null) {
            long left = end - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            TimeUnit.NANOSECONDS.timedWait(ReadyVms.class, left);
        }
        return ready != null;
    }

    private static void buildIfWanted() {
        if (wanted == null || ready != null || building) {
            return;
        }
        building = true;
        VmConfig config = wanted;
        BUILDER.execute(() -> {
            Vm vm = null;
            try {
                vm = Vm.create(config);
            } catch (RuntimeException e) {
                // not kept: the next machine builds its own, which fails with this host's reason
            }
            Vm discard = null;
            synchronized (ReadyVms.class) {
                building = false;
                if (vm == null && config.equals(wanted)) {
                    wanted = null;
                } else if (vm != null && config.equals(wanted) && ready == null) {
                    ready = vm;
                } else {
                    discard = vm;
                    buildIfWanted(); // another shape was asked for meanwhile
                }
                ReadyVms.class.notifyAll();
            }
            if (discard != null) {
                discard.close();
            }
        });
    }
}
