package dev.stasis.migrate;

import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.uffd.UffdUnavailableException;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.snapshot.codec.Decoder;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Runs the code of the stop-and-copy before the guest stops: save every section of a scratch machine,
 * encode them as SECTION payloads, decode them and restore them into it. In a fresh
 * process the first save and restore are dominated by class loading and interpreted code (about 50 ms each here);
 * done while pre-copy runs, that cost leaves the pause. The scratch machine has the guest's CPU model, so the
 * CPUID, MSR and XSAVE paths are the ones the real guest takes; it is {@link Machine#scratch}: tiny and never run.
 */
final class StatePathWarmup {
    private StatePathWarmup() {}

    /** Enough passes for C1 to compile the per-field encode and decode loops. */
    private static final int PASSES = 2;
    private static final long WAIT_MILLIS = 2000;

    /** Starts the warm-up on a daemon thread. */
    static CompletableFuture<Void> start(GuestCpu cpu) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                run(cpu);
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        }, "migrate-warmup");
        t.setDaemon(true);
        t.start();
        return done;
    }

    /**
     * Waits (briefly) for a warm-up to end, so it does not compete with the stop-and-copy for a CPU: for the
     * source, before it pauses the guest. (The destination does not wait: there, waiting would be downtime; it
     * starts its warm-up while it waits for the source, long before the pause.) A warm-up that failed or is still
     * running only costs speed: it is logged, never fatal.
     */
    static void await(CompletableFuture<Void> warmup, Consumer<String> log) {
        try {
            warmup.get(WAIT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.accept("warm-up of the state path did not finish (" + e + "); the pause may be longer");
        }
    }

    /** Waits for a warm-up to end, whatever its outcome: its scratch machines are closed when this returns. */
    static void finish(CompletableFuture<Void> warmup) {
        try {
            warmup.get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            // it only ever made things faster
        }
    }

    static void run(GuestCpu cpu) {
        // One machine, saved and restored into itself (it never runs, so KVM takes its state again): the same code
        // as two, at the cost of one VM.
        try (Machine scratch = Machine.scratch(cpu)) {
            for (int i = 0; i < PASSES; i++) {
                SectionMessages.Collector sections = new SectionMessages.Collector();
                scratch.saveState(sections);
                SectionRecords records = new SectionRecords();
                for (byte[] p : sections.payloads()) {
                    SectionMessages.decode(new Decoder(p, 0, p.length, 0, "warm-up section"), records);
                }
                scratch.restoreState(records);
            }
            warmPostcopy(scratch);
        }
    }

    /**
     * A post-copy's destination builds its userfaultfd engine inside the pause: do it once here, on the scratch
     * machine's memory, every page arriving as zero (opening, registering, installing, finishing). Skipped where
     * userfaultfd is unavailable: a post-copy is then refused anyway.
     */
    private static void warmPostcopy(Machine scratch) {
        var memory = scratch.memory();
        long pages = memory.size() / Protocol.PAGE_SIZE;
        long[][] none = {new long[(int) ((pages + 63) / 64)]};
        RemoteRam ram;
        try {
            ram = RemoteRam.start(memory, none, gpa -> { }, cause -> { });
        } catch (UffdUnavailableException e) {
            return;
        }
        try (ram) {
            long[] all = new long[(int) ((pages + 63) / 64)];
            java.util.Arrays.fill(all, -1L);
            ram.install(memory.layout().ranges().get(0).gpa(), (int) pages, all, all, null);
        }
    }
}
