package dev.stasis.migrate;

import com.github.luben.zstd.Zstd;
import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.loader.ScratchProgram;
import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.memory.MemoryRange;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.postcopy.PostcopyRehearsal;
import dev.stasis.migrate.precopy.DirtyLog;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.migrate.protocol.Spans;
import dev.stasis.os.Niceness;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.container.ZeroPage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Runs the code of the stop-and-copy before the guest stops: save every section of a scratch machine,
 * encode them as SECTION payloads, decode them and restore them into it. In a fresh
 * process the first save and restore are dominated by class loading and interpreted code (about 50 ms each here);
 * done while pre-copy runs, that cost leaves the pause. The scratch machine has the guest's CPU model, so the
 * CPUID, MSR and XSAVE paths are the ones the real guest takes; it is {@link Machine#scratch}: tiny and never run (the
 * destination warms its start path on a second one, {@link #warmStart}).
 */
final class StatePathWarmup {
    private StatePathWarmup() {}

    /** Whole save and restore passes, with their KVM calls: class loading and the KVM paths. */
    private static final int PASSES = 2;
    /** At most this many repeats of the whole path, within the time given. */
    private static final int MAX_REPEATS = 500;
    /** Repeats done whatever comes (a source knocking included): enough for the hottest loops to be compiled. */
    private static final int MIN_REPEATS = 20;
    private static final long WAIT_MILLIS = 2000;
    /**
     * Which end warms up. The source waits for its warm-up before it pauses (a post-copy at once has no round to hide
     * it behind), so one started with the migration is short; one started ahead, while the VM runs and no migration
     * waits, repeats for longer (and cuts short once a migration asks). The destination's runs while it waits for the
     * source. Those two rehearse a post-copy as well ({@link PostcopyRehearsal}); the short one has no time for it.
     */
    enum Side {
        SOURCE(Duration.ofMillis(20), false), SOURCE_AHEAD(Duration.ofMillis(500), true), DESTINATION(Duration.ofSeconds(1), true);

        final Duration budget;
        final boolean postcopy;

        Side(Duration budget, boolean postcopy) {
            this.budget = budget;
            this.postcopy = postcopy;
        }
    }

    /**
     * The source's warm-up of this process: its code stays compiled, so one that ran (or runs) serves every later
     * migration from here, and one started before any migration was asked for ({@link MigrationSender#warmUp}) keeps
     * the first one's rounds from sharing the CPU with it.
     */
    private static CompletableFuture<Void> sourceWarmup;

    /**
     * The source's warm-up: the process's own if it ran or runs, else a new one; {@code ahead} for one asked for while
     * the VM runs and no migration waits ({@link Side#SOURCE_AHEAD}), false for a migration's own.
     */
    static synchronized CompletableFuture<Void> source(GuestCpu cpu, boolean ahead) {
        if (!ahead) {
            migrationAsked = true; // an ahead warm-up still repeating cuts short: the migration waits for it
        }
        if (sourceWarmup == null || sourceWarmup.isCompletedExceptionally()) {
            sourceWarmup = ahead ? start(cpu, Side.SOURCE_AHEAD, () -> migrationAsked, () -> { }) : start(cpu, Side.SOURCE, () -> false, () -> { });
        }
        return sourceWarmup;
    }

    /** Set once this process's first migration began: a warm-up started ahead of it stops repeating. */
    private static volatile boolean migrationAsked;

    /**
     * Starts the warm-up on a daemon thread, at background priority. {@code ready} runs once it is done (or failed):
     * every path run, then repeated for as long as the side's budget ({@link #MIN_REPEATS} at least), the repeats cut
     * short once {@code yield} says so (the destination's at the first connection, so the source's handshake and rounds
     * get the CPU), and a destination's garbage collected.
     */
    static CompletableFuture<Void> start(GuestCpu cpu, Side side, BooleanSupplier yield, Runnable ready) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = Niceness.backgroundThread(() -> {
            try {
                run(cpu, side, yield, ready);
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        });
        t.setName("migrate-warmup");
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

    static void run(GuestCpu cpu, Side side, BooleanSupplier yield, Runnable ready) {
        boolean told = false;
        // One machine, saved and restored into itself (it never runs, so KVM takes its state again): the same code
        // as two, at the cost of one VM.
        try (Machine scratch = Machine.scratch(cpu)) {
            if (side == Side.DESTINATION) {
                warmDisks(scratch);
            }
            for (int i = 0; i < PASSES; i++) {
                saveAndRestore(scratch);
            }
            warmPageCodec();
            if (side == Side.SOURCE_AHEAD) { // tens of ms of calls: ahead only, never awaited by a migration
                warmBitmaps(scratch);
            }
            if (side.postcopy) {
                PostcopyRehearsal.run();
            }
            warmLink(scratch);
            if (side == Side.DESTINATION) {
                warmStart(cpu);
            }
            repeat(scratch, side.budget, yield);
            if (side == Side.DESTINATION && !yield.getAsBoolean()) {
                // The warm-up's garbage (~100 MB of sections encoded and decoded) collected while no source is here: the
                // collection it left due fell in a later pause (a 15 ms young collection of a copied disk's move here).
                System.gc();
            }
            // Only now: a destination is ready once warm and collected, so a source that waited for it finds it idle (said
            // before its repeats, they and their garbage ran into the source's set-up and rounds).
            told = true;
            ready.run();
        } finally {
            if (!told) {
                ready.run(); // failed: the socket takes a source all the same
            }
        }
    }

    /**
     * A disk on the scratch machine (a temporary file of two blocks), so that its device's sections go through the
     * passes too: a destination opens the guest's disks in the pause, and the first disk image in a process loaded
     * xxhash's native library and the virtio-blk classes there (8-11 ms of a move's downtime with a copied disk).
     */
    private static void warmDisks(Machine scratch) {
        Path file = null;
        try {
            file = Files.createTempFile("stasis-warm-up", ".img");
            Files.write(file, new byte[2 * Protocol.PAGE_SIZE]);
            scratch.attachDisks(List.of(new DiskSpec(file, false, "warm-up")));
            scratch.disks().get(0).image().fingerprint();
        } catch (IOException | RuntimeException e) {
            // warming only: where no temporary file can be made, the first disk pays in the pause as before
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file); // the open image keeps its blocks until the scratch machine closes it
                } catch (IOException ignored) {
                    // a two-block file left in the temporary directory
                }
            }
        }
    }

    /**
     * The whole state path again and again, KVM's calls included: C1 compiles a method after a few hundred calls, in the
     * background, and two passes leave the per-field loops interpreted (decoding a migration's 11 sections took 3-7 ms
     * cold, 0.6 ms compiled). Repeating only the Java part (encode, decode, load) left the code around KVM's calls
     * interpreted (the vCPU's register and MSR codecs, each part's apply). With those repeated too, and the source's
     * warm-up ahead given 500 ms, 9 moves of ticker alternated with the old build (medians): the source's save in the
     * pause 1.9 -> 1.0 ms, the destination's restore 3.7 -> 1.8 ms, the whole pause 11.0 -> 7.2 ms. A repeat costs
     * ~1.2 ms here (the destination's, with its warm-up disk flushed each time, 500 in 631 ms; the source's, beside its
     * guest, 403 in its 500 ms), and while the source's run, 0.75-1.25 s after the VM starts, ticker saw steps of
     * 10-14 ms on this 2-core host (none with the Java part alone; sleeping 2 ms between repeats did not help). Those
     * are the young collections of the repeats' garbage (10-16 ms each here, a vCPU thread waiting at the safepoint on
     * its next exit), seen with the warm-up at nice 10 as at 0.
     */
    private static void repeat(Machine scratch, Duration budget, BooleanSupplier yield) {
        long until = System.nanoTime() + budget.toNanos();
        for (int n = 0; n < MAX_REPEATS && (n < MIN_REPEATS || System.nanoTime() < until && !yield.getAsBoolean()); n++) {
            saveAndRestore(scratch);
        }
    }

    /** Every section of {@code scratch} saved, encoded as SECTION payloads, decoded and restored into it again. */
    private static void saveAndRestore(Machine scratch) {
        SectionMessages.Collector sections = new SectionMessages.Collector();
        scratch.saveState(sections);
        SectionRecords records = new SectionRecords();
        for (byte[] p : sections.payloads()) {
            SectionMessages.decode(new Decoder(p, 0, p.length, 0, "warm-up section"), records);
        }
        scratch.restoreState(records);
    }

    /**
     * Starts a scratch machine's vCPU on {@link ScratchProgram} and pauses it once the program halted: the destination
     * starts the guest's vCPUs inside the pause, and there the first start in a process ran the run loop, the kick's
     * signal handler and the port-exit path interpreted and loaded their classes (start 1.0-6.1 ms of the pause here).
     * A machine of its own: KVM refuses a vCPU that has run a CPUID other than the one it ran with, so the one the
     * repeats restore into must never run. Only ever a speed-up: a program that does not finish in time is paused where
     * it is.
     */
    private static void warmStart(GuestCpu cpu) {
        try (Machine scratch = Machine.scratch(cpu)) {
            scratch.vm().boot(ScratchProgram.load(scratch.memory(), START_OUTS));
            scratch.start();
            long until = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(200);
            while (!ScratchProgram.finished(scratch.memory()) && !scratch.vm().isStopped() && System.nanoTime() < until) {
                Thread.sleep(1);
            }
            scratch.vm().pauseAll();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // only ever made things faster
        }
    }

    /**
     * Pages sent and applied by {@link #warmLink}, each a page and a span: C1 compiles the span loops of both ends only
     * after some 200 calls. With 20, a fresh process's first round of a 256 MiB guest's zero pages took 9.9 ms on its
     * own here, with 200 3.7 ms (warm: 2-3 ms); the 200 cost ~50 ms more of the warm-up, ahead of any migration.
     */
    private static final int LINK_REPEATS = 200;

    /** Port exits the scratch program makes: C1 compiles the exit path after a few hundred. */
    private static final int START_OUTS = 1000;

    /**
     * zstd's native library loads on its first call (tens of ms here): in a post-copy at once no pre-copy page has
     * called it before the first urgent page, which both ends compress and expand inside the guest's wait. And the
     * zero-page test, which interpreted took 16 us a page (8 ms for the 2 MiB huge page under a small kernel).
     */
    private static void warmPageCodec() {
        ByteBuffer zeros = ByteBuffer.allocateDirect(16 * Protocol.PAGE_SIZE);
        for (int i = 0; i < 4096; i++) {
            ZeroPage.isZero(zeros.slice((i % 16) * Protocol.PAGE_SIZE, Protocol.PAGE_SIZE));
        }
        byte[] page = new byte[Protocol.PAGE_SIZE];
        for (int i = 0; i < page.length; i++) {
            page[i] = (byte) (i * 31 >>> 3);
        }
        byte[] packed = new byte[(int) Zstd.compressBound(page.length)];
        byte[] back = new byte[page.length];
        for (int i = 0; i < 50; i++) {
            long n = Zstd.compressByteArray(packed, 0, packed.length, page, 0, page.length, 1);
            Zstd.decompressByteArray(back, 0, back.length, packed, 0, (int) n);
        }
    }

    /**
     * The last round's bitmap work, compiled before a pause needs it: the scratch machine's dirty log collected, ORed
     * into a round's bitmaps, counted and cut into spans, a thousand times (its 2 MiB make each call short; the calls
     * are what gets a method compiled; 30-50 ms in all here). Left interpreted they took 1.0-1.6 ms of a 1 GiB guest's
     * pause for two dirty pages (the collect 0.5-0.7, the OR 0.2, the spans' scan 0.5-0.7); that phase 0.3-0.9 ms since.
     */
    private static void warmBitmaps(Machine scratch) {
        scratch.vm().setDirtyLogging(true);
        try {
            DirtyLog log = new DirtyLog(scratch.vm());
            long[][] round = log.all();
            List<MemoryRange> ranges = scratch.memory().layout().ranges();
            for (int i = 0; i < BITMAP_PASSES; i++) {
                DirtyLog.or(round, log.collect());
                DirtyLog.count(round);
                for (Spans.Span span : Spans.of(ranges, 0, 1)) {
                    PageWriter.count(PageWriter.marked(span.pages(), round[span.slot()], span.firstWord()));
                }
            }
        } finally {
            scratch.vm().setDirtyLogging(false);
        }
    }

    /** Calls enough for each of those methods to be compiled (C1's thresholds count calls and loop turns). */
    private static final int BITMAP_PASSES = 1000;

    /**
     * The link end to end over a loopback connection of this process: the handshake (HELLO both ways, without
     * authentication), then PAGES written from the scratch machine's RAM (one page, as a post-copy's answer to a
     * request, and a whole span, as a round) and read back into it, through {@link Channel}'s framing. Run cold, the
     * first post-copy request took 10.8 ms from fault to page here, and the source's handshake 7 ms (the JDK's
     * SecureRandom and its providers). With a second pass under a pre-shared key the change measured slower than the
     * build before it (16 alternated moves, medians: total 47.6 against 37.3 ms), without it faster (34.5 against 40.1;
     * the two never compared directly, the cause not found), and TLS needs a peer that trusts this side's certificate:
     * neither is warmed. Skipped where no loopback connection can be made (a jail's empty network
     * namespace).
     */
    private static void warmLink(Machine scratch) {
        Auth auth = new Auth.Insecure();
        var memory = scratch.memory();
        long base = memory.layout().ranges().get(0).gpa();
        int span = (int) Math.min(Protocol.MAX_SPAN, memory.layout().ranges().get(0).size() / Protocol.PAGE_SIZE);
        try (java.net.ServerSocket server = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             Channel out = new Channel(new java.net.Socket(server.getInetAddress(), server.getLocalPort()), FaultHook.NONE, new AtomicInteger());
             Channel in = new Channel(server.accept(), FaultHook.NONE, new AtomicInteger())) {
            CompletableFuture<Handshake.Hello> accepted = new CompletableFuture<>();
            Thread destination = new Thread(() -> {
                try {
                    accepted.complete(Handshake.server(in, auth));
                } catch (RuntimeException e) {
                    accepted.completeExceptionally(e);
                }
            }, "migrate-warmup-handshake");
            destination.setDaemon(true);
            destination.start();
            Handshake.client(out, auth, 0, 0);
            accepted.get(10, TimeUnit.SECONDS);
            byte[] data = new byte[Protocol.PAGE_SIZE];
            java.util.Arrays.fill(data, (byte) 0x5a);
            memory.write(base, data); // a page with data (compressed), the rest zero
            PageWriter writer = new PageWriter();
            PageReader reader = new PageReader(memory, new PageReader.Written(memory));
            long[] all = new long[(span + 63) / 64];
            java.util.Arrays.fill(all, -1L);
            for (int i = 0; i < LINK_REPEATS; i++) {
                writer.send(out, memory, base, 1, new long[] {1}, 0);
                reader.apply(in.expect(MessageType.PAGES));
                writer.send(out, memory, base, span, all, 0);
                reader.apply(in.expect(MessageType.PAGES));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.io.IOException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException | RuntimeException e) {
            // only ever made things faster
        }
    }
}
