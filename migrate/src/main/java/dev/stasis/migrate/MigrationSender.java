package dev.stasis.migrate;

import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.disks.DiskCopySource;
import dev.stasis.migrate.disks.SharedDisks;
import dev.stasis.migrate.postcopy.PageSet;
import dev.stasis.migrate.postcopy.PostcopySource;
import dev.stasis.migrate.precopy.Convergence;
import dev.stasis.migrate.precopy.DirtyLog;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.precopy.RateLimit;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.migrate.protocol.Spans;
import dev.stasis.os.SpareThreads;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.vm.Vm;
import dev.stasis.vm.VmConfigSection;
import dev.stasis.vm.VmExit;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The source side of a live migration: pre-copy rounds driven by KVM's dirty log while the guest runs,
 * then stop-and-copy of the last dirty pages and every section, then the two-step hand-over (READY from the
 * destination, COMMIT from us, STARTED back). Only after STARTED does the source guest stop, as
 * {@link VmExit.Kind#MIGRATED}.
 *
 * <p>Any failure before COMMIT is sent leaves the guest running here exactly as before (resumed if it was
 * paused, throttle off). After COMMIT the destination may already run the guest; if STARTED then never
 * arrives the source cannot know, so it keeps the guest paused rather than risk two running copies, and
 * says so.
 */
public final class MigrationSender {
    /**
     * @param downtime      the longest pause to aim for
     * @param maxTime       give up (guest keeps running here) when not converged by then; with post-copy, switch to it then
     * @param connections   TCP connections for page data, 1..{@link Protocol#MAX_CONNECTIONS} (post-copy opens at least 2:
     *                      its urgent pages travel on the control connection, the background stream beside it)
     * @param maxBandwidth  bytes per second for page data, 0 = unlimited
     * @param postcopyAfter -1: pre-copy only; N >= 0: switch to post-copy after at most N pre-copy rounds (0: at once)
     *                      or when pre-copy has not converged by {@code maxTime}
     * @param recoverWindow during post-copy, how long to keep reconnecting to a destination whose link broke
     * @param copyDisks     send the disks' blocks with the pre-copy (else the disks must be on storage both hosts share)
     */
    public record Options(Auth auth, Duration downtime, Duration maxTime, int connections, long maxBandwidth, FaultHook hook,
                          int postcopyAfter, Duration recoverWindow, boolean copyDisks) {
        public Options {
            if (connections < 1 || connections > Protocol.MAX_CONNECTIONS) {
                throw new IllegalArgumentException("connections must be 1.." + Protocol.MAX_CONNECTIONS + ", got " + connections);
            }
            if (downtime.isNegative() || maxTime.isNegative() || maxTime.isZero()) {
                throw new IllegalArgumentException("downtime must be >= 0 and max time > 0");
            }
            if (postcopyAfter < -1 || recoverWindow.isNegative()) {
                throw new IllegalArgumentException("post-copy after " + postcopyAfter + " rounds, recovery window " + recoverWindow);
            }
        }

        public Options(Auth auth, Duration downtime, Duration maxTime, int connections, long maxBandwidth, FaultHook hook) {
            this(auth, downtime, maxTime, connections, maxBandwidth, hook, -1, DEFAULT_RECOVER_WINDOW, false);
        }

        public static Options of(Auth auth) {
            return new Options(auth, Duration.ofMillis(300), Duration.ofSeconds(120), 1, 0, FaultHook.NONE);
        }

        public Options withHook(FaultHook h) {
            return new Options(auth, downtime, maxTime, connections, maxBandwidth, h, postcopyAfter, recoverWindow, copyDisks);
        }

        public Options withConnections(int n) {
            return new Options(auth, downtime, maxTime, n, maxBandwidth, hook, postcopyAfter, recoverWindow, copyDisks);
        }

        public Options withLimits(Duration downtime, Duration maxTime, long maxBandwidth) {
            return new Options(auth, downtime, maxTime, connections, maxBandwidth, hook, postcopyAfter, recoverWindow, copyDisks);
        }

        /** Post-copy after at most {@code rounds} pre-copy rounds (0: at once), reconnecting for up to {@code window}. */
        public Options withPostcopy(int rounds, Duration window) {
            return new Options(auth, downtime, maxTime, connections, maxBandwidth, hook, rounds, window, copyDisks);
        }

        /** With {@code copy}, the disks' blocks go with the pre-copy ({@code --copy-disks}). */
        public Options withCopyDisks(boolean copy) {
            return new Options(auth, downtime, maxTime, connections, maxBandwidth, hook, postcopyAfter, recoverWindow, copy);
        }

        boolean postcopy() {
            return postcopyAfter >= 0;
        }

        /** Post-copy needs a data connection beside the control one. */
        int effectiveConnections() {
            return postcopy() ? Math.max(2, connections) : connections;
        }
    }

    /** How long post-copy keeps reconnecting to a destination whose link broke, unless told otherwise. */
    public static final Duration DEFAULT_RECOVER_WINDOW = Duration.ofSeconds(120);

    /**
     * What it took: rounds of pre-copy (the first sends all pages), pages and bytes, total time and pause; for a
     * post-copy, the pages sent after the switch (-1 without one), those of them a fault asked for, and the recoveries.
     */
    public record Result(String destination, int rounds, long pages, long zeroPages, long bytes, Duration total, Duration downtime, int maxThrottle,
                         long postcopyPages, long postcopyRequests, int recoveries) {}

    private final Machine machine;
    private final Vm vm;
    private final Options options;
    private final MigrationProgress progress;
    private final Consumer<String> log;
    private boolean pausedBefore;
    /** Set by {@link #postcopy}: the guest paused for the switch, and COMMIT sent. */
    private boolean postcopyPaused;
    private boolean postcopyCommitted;
    private CompletableFuture<Void> warmup;
    private CompletableFuture<DirtyLog> logging;
    /** {@code --copy-disks}: the disks' blocks on their way, or null. */
    private DiskCopySource diskCopy;
    /** The disks' locks were let go of for the destination: taken back if the move fails before COMMIT. */
    private boolean disksReleased;
    private final List<Channel> channels = new ArrayList<>();
    private final List<PageWriter> writers = new ArrayList<>();
    private final AtomicInteger messages = new AtomicInteger();
    private final RateLimit rate;
    /** A post-copy's first threads, made at the set-up (a switch starts them in the guest's pause). */
    private final SpareThreads postcopyThreads = new SpareThreads();
    private ExecutorService pool;
    private long deadline;

    private MigrationSender(Machine machine, Options options, MigrationProgress progress, Consumer<String> log) {
        this.progress = progress;
        this.machine = machine;
        this.vm = machine.vm();
        this.options = options;
        this.log = log;
        this.rate = new RateLimit(options.maxBandwidth());
    }

    /** Moves the running {@code machine} to the destination at {@code to}; on success it has stopped as MIGRATED. */
    public static Result migrate(Machine machine, InetSocketAddress to, Options options, Consumer<String> log) {
        Result r = migrateAndHold(machine, to, options, log);
        machine.vm().stop(migrated(r));
        return r;
    }

    /**
     * Like {@link #migrate}, but on success leaves the guest paused here (it runs at the destination now) for
     * the caller to stop with {@link #migrated}, e.g. once it has told whoever asked.
     */
    public static Result migrateAndHold(Machine machine, InetSocketAddress to, Options options, Consumer<String> log) {
        return migrateAndHold(machine, to, options, new MigrationProgress(), log);
    }

    /** {@link #migrateAndHold}, reporting to {@code progress}, which can also cancel it before COMMIT. */
    public static Result migrateAndHold(Machine machine, InetSocketAddress to, Options options, MigrationProgress progress, Consumer<String> log) {
        String disks = options.copyDisks() ? null : SharedDisks.refusal(machine);
        if (options.copyDisks() && options.postcopyAfter() == 0 && !machine.disks().isEmpty()) {
            disks = "--copy-disks copies the disks with the pre-copy, and a post-copy at once has none (every block would go in the pause):"
                    + " use --postcopy-after N";
        }
        if (disks != null) {
            throw new MigrationException(MigrationException.Kind.LOCAL, "cannot migrate this guest: " + disks);
        }
        if (machine.vm().isStopped()) {
            throw new MigrationException(Kind.LOCAL, "the VM has stopped; nothing to migrate");
        }
        MigrationSender sender = new MigrationSender(machine, options, progress, log);
        try {
            Result r = sender.run(to);
            progress.phase("done");
            return r;
        } catch (RuntimeException e) {
            progress.phase("failed");
            throw e;
        }
    }

    /**
     * Runs the source's save, encode and page paths once on a scratch machine of {@code cpu}'s model, in the
     * background, so that a migration asked for later finds them compiled: a fresh process's first one otherwise
     * spends some 100-200 ms of its rounds and set-up beside that warm-up. For a VM that serves a control socket.
     */
    public static void warmUp(GuestCpu cpu) {
        StatePathWarmup.source(cpu, true);
    }

    public static VmExit migrated(Result r) {
        return new VmExit(VmExit.Kind.MIGRATED, 0, "migrated to " + r.destination(), "");
    }

    private Result run(InetSocketAddress to) {
        long start = System.nanoTime();
        deadline = start + options.maxTime().toNanos();
        pausedBefore = vm.runControl().isPauseRequested(); // a VM someone else holds paused stays paused on give-up
        boolean paused = false;
        boolean committed = false;
        warmup = StatePathWarmup.source(vm.config().cpu(), false); // done ahead, or while pre-copy runs: not in the pause
        try {
            // KVM's dirty log is turned on (re-registering every slot) while the destination sets up; off again below.
            logging = CompletableFuture.supplyAsync(() -> {
                vm.setDirtyLogging(true);
                DirtyLog log = new DirtyLog(vm);
                log.collect(); // from here on the log holds what the guest writes during round 1
                return log;
            }, MigrationSender::daemon);
            if (options.copyDisks() && !machine.disks().isEmpty()) {
                diskCopy = new DiskCopySource(machine, options.maxBandwidth()); // its changes tracked from here, before round 1 reads them
            }
            long session = connect(to);
            DirtyLog dirty = joinLogging();
            log.accept(String.format("session set up in %.1f ms", (System.nanoTime() - start) / 1e6));
            progress.phase("pre-copy");
            Convergence convergence = new Convergence(options.downtime().toNanos());
            long[][] pages = dirty.all();
            int rounds = 0;
            int maxThrottle = 0;
            while (options.postcopyAfter() != 0) {
                progress.checkCancelled();
                rounds++;
                long t = System.nanoTime();
                long bytesBefore = bytesSent();
                long[] sent = sendRound(pages, false);
                long blocks = diskCopy == null ? 0 : diskCopy.send(channels, this::afterDiskSpan);
                channels.get(0).send(MessageType.ROUND, new Encoder().varUnsigned(rounds).varUnsigned(sent[0]));
                long acked = channels.get(0).expect(MessageType.ROUND, d -> d.varUnsigned("round", Long.MAX_VALUE));
                if (acked != rounds) {
                    throw channels.get(0).protocolError("the destination acknowledged round " + acked + " after round " + rounds);
                }
                long took = System.nanoTime() - t;
                convergence.roundSent(sent[0] + blocks, sent[0] - sent[1] + blocks, took); // a disk block costs the link what a page does
                pages = dirty.collect();
                long dirtyBlocks = diskCopy == null ? 0 : diskCopy.collect();
                long n = DirtyLog.count(pages) + dirtyBlocks;
                log.accept(String.format("round %d: %d pages (%d zero)%s in %.1f ms; %d dirty now, pause would be ~%.1f ms",
                        rounds, sent[0], sent[1], diskCopy == null ? "" : ", " + blocks + " disk blocks", took / 1e6, n, convergence.expectedDowntime(n) / 1e6));
                long bytesNow = bytesSent();
                progress.round(rounds, pagesSent(), bytesNow, took, n,
                        convergence.expectedDowntime(n), bytesNow - bytesBefore);
                if (convergence.shouldStop(n)) {
                    break;
                }
                if (options.postcopy() && (rounds >= options.postcopyAfter() || System.nanoTime() > deadline)) {
                    return postcopy(session, to, rounds, pages, maxThrottle, start, dirty);
                }
                if (System.nanoTime() > deadline) {
                    throw timeout(n);
                }
                int throttle = convergence.throttleFor(n);
                if (throttle != vm.runControl().throttlePercent()) {
                    log.accept("auto-converge: vCPUs throttled to " + throttle + "%");
                    vm.runControl().setThrottle(throttle);
                    maxThrottle = throttle;
                }
            }
            if (options.postcopyAfter() == 0) {
                return postcopy(session, to, 0, pages, 0, start, dirty);
            }
            // Stop and copy.
            StatePathWarmup.await(warmup, log);
            progress.checkCancelled();
            progress.phase("stop-and-copy");
            machine.preflushDisks(); // the disks' dirty pages and fingerprint scan, while the guest runs: not in the pause
            long pauseStart = System.nanoTime();
            vm.pauseAll();
            paused = true;
            machine.quiesce(); // devices' I/O in flight done (and its pages dirty) before the last round; held until the guest resumes here, if it does
            long tPaused = System.nanoTime();
            SectionMessages.Collector sections = new SectionMessages.Collector();
            DirtyLog.or(pages, dirty.collect());
            sendLastDiskBlocks(); // before the last round ends each data connection with DATA_END
            long[] sent = sendRound(pages, true);
            long tPages = System.nanoTime();
            machine.saveState(sections);
            Channel control = channels.get(0);
            handOverDisks(control);
            long tSaved = System.nanoTime();
            for (byte[] s : sections.payloads()) {
                control.send(MessageType.SECTION, s, null, 0);
            }
            long totalPages = pagesSent();
            control.send(MessageType.END, new Encoder().varUnsigned(sections.payloads().size()).u64(totalPages));
            control.expectEmpty(MessageType.READY);
            long tReady = System.nanoTime();
            progress.commit(); // a cancel asked for until now still wins; none after
            committed = true;
            control.send(MessageType.COMMIT, new Encoder());
            control.expectEmpty(MessageType.STARTED);
            long end = System.nanoTime();
            vm.runControl().setThrottle(0);
            long bytes = bytesSent();
            long zero = zeroPagesSent();
            log.accept(String.format("stop-and-copy: %d pages, %d sections; paused %.1f ms (pause %.1f, pages %.1f, save %.1f, restore at the destination %.1f, commit %.1f)",
                    sent[0], sections.payloads().size(), (end - pauseStart) / 1e6, (tPaused - pauseStart) / 1e6, (tPages - tPaused) / 1e6,
                    (tSaved - tPages) / 1e6, (tReady - tSaved) / 1e6, (end - tReady) / 1e6));
            return new Result(control.peer(), rounds + 1, totalPages, zero, bytes, Duration.ofNanos(end - start), Duration.ofNanos(end - pauseStart), maxThrottle, -1, 0, 0);
        } catch (MigrationException e) {
            throw giveUp(e, paused || postcopyPaused, committed || postcopyCommitted);
        } catch (RuntimeException e) {
            throw giveUp(new MigrationException(Kind.LOCAL, "migration failed on the source: " + e.getMessage(), e), paused || postcopyPaused, committed || postcopyCommitted);
        } finally {
            if (pool != null) {
                pool.shutdownNow();
            }
            postcopyThreads.close(); // those a post-copy did not take (a pre-copy to the end takes none)
            channels.forEach(Channel::close);
            if (diskCopy != null) {
                diskCopy.close();
            }
            try {
                if (logging != null) {
                    logging.handle((l, e) -> null).join(); // turned on before it is turned off
                }
                vm.setDirtyLogging(false); // back to large pages on hardware KVM
            } catch (RuntimeException e) {
                log.accept("could not turn dirty logging off: " + e.getMessage());
            }
            StatePathWarmup.finish(warmup); // its scratch VMs never outlive the migration
        }
    }

    /**
     * The switch to post-copy: the guest stops here for good; the pages dirtied since they were sent are not sent
     * but named (the destination drops its stale copies), then the sections go; on COMMIT the destination starts the
     * guest and asks for the pages it touches while the rest is pushed ({@link PostcopySource}).
     */
    private Result postcopy(long session, InetSocketAddress to, int rounds, long[][] dirtyPages, int maxThrottle, long start, DirtyLog dirty) {
        StatePathWarmup.await(warmup, log);
        progress.checkCancelled();
        progress.phase("stop-and-copy");
        log.accept("post-copy: from the hand-over on, the guest's memory is split between the two hosts until every page is across:"
                + " if this source dies before then, the guest is lost");
        machine.preflushDisks();
        PostcopySource.Reconnect again = () -> reconnect(to, session); // linked before the pause, not in it
        long pauseStart = System.nanoTime();
        vm.pauseAll();
        postcopyPaused = true;
        machine.quiesce();
        long tPaused = System.nanoTime();
        SectionMessages.Collector sections = new SectionMessages.Collector();
        long[][] stale = rounds == 0 ? dirty.all() : dirtyPages;
        if (rounds > 0) {
            DirtyLog.or(stale, dirty.collect());
        }
        sendLastDiskBlocks(); // a disk is never post-copied: all of it is there before the guest runs there
        machine.saveState(sections);
        Channel control = channels.get(0);
        handOverDisks(control);
        long tSaved = System.nanoTime();
        for (int c = 1; c < channels.size(); c++) {
            channels.get(c).send(MessageType.DATA_END, new Encoder()); // the pre-copy streams end here
        }
        for (byte[] section : sections.payloads()) {
            control.send(MessageType.SECTION, section, null, 0);
        }
        long preCopied = pagesSent();
        Encoder end = new Encoder().varUnsigned(sections.payloads().size()).u64(preCopied);
        PageSet.encode(end, stale);
        control.send(MessageType.POSTCOPY, end);
        long toBring = DirtyLog.count(stale);
        long preCopyBytes = bytesSent();
        PostcopySource source = new PostcopySource(vm.memory(), stale, rate, options.recoverWindow(), again, log, postcopyThreads);
        try {
            source.start(List.copyOf(channels));
            source.await(MessageType.READY, Channel.READ_TIMEOUT_MILLIS);
            long tReady = System.nanoTime();
            progress.commit(); // a cancel asked for until now still wins; none after
            postcopyCommitted = true;
            source.commit();
            progress.phase("post-copy");
            PostcopySource.Stats st = source.finish();
            long end2 = System.nanoTime();
            long started = st.startedAt() > 0 ? st.startedAt() : end2;
            log.accept(String.format("stop-and-copy (post-copy): %d pages left to bring, %d sections; paused %.1f ms (pause %.1f, save %.1f,"
                            + " restore at the destination %.1f, commit to started %.1f)", toBring, sections.payloads().size(), (started - pauseStart) / 1e6,
                    (tPaused - pauseStart) / 1e6, (tSaved - tPaused) / 1e6, (tReady - tSaved) / 1e6, (started - tReady) / 1e6));
            log.accept(String.format("post-copy done %.1f ms after the switch: %d pages pushed, %d sent on request (%d repeated requests ignored), %d recoveries",
                    (end2 - pauseStart) / 1e6, st.pushed(), st.requests(), st.repeats(), st.recoveries()));
            vm.runControl().setThrottle(0);
            long zero = zeroPagesSent() + st.zeroPages();
            return new Result(control.peer(), rounds + 1, preCopied + st.pushed() + st.requests(), zero, preCopyBytes + st.bytes(), Duration.ofNanos(end2 - start),
                    Duration.ofNanos(started - pauseStart), maxThrottle, st.pushed() + st.requests(), st.requests(), st.recoveries());
        } catch (RuntimeException e) {
            if (!postcopyCommitted && e instanceof MigrationException m
                    && (m.kind() == Kind.TIMEOUT || m.kind() == Kind.LOCAL || m.kind() == Kind.CANCELLED)) {
                source.refuse("the source gives up: " + e.getMessage()); // before the link closes, so the destination says why
            }
            source.close();
            throw e;
        }
    }

    private DirtyLog joinLogging() {
        try {
            return logging.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof RuntimeException r ? r : e;
        }
    }

    /** A connection's part of a --max-bandwidth all connections share (0: none). */
    private static long share(long maxBandwidth, int connections) {
        return maxBandwidth <= 0 ? 0 : Math.max(1, maxBandwidth / connections);
    }

    private static void daemon(Runnable r) {
        Thread t = new Thread(r, "migrate-dirty-log");
        t.setDaemon(true);
        t.start();
    }

    /** With {@code --copy-disks}, in the pause (the disks' I/O held): the blocks changed since they were last sent. */
    private void sendLastDiskBlocks() {
        if (diskCopy != null) {
            diskCopy.collect();
            long n = diskCopy.send(channels, (ch, bytes) -> { }); // the guest is paused: no limit, no cancel
            log.accept("stop-and-copy: " + n + " disk blocks");
        }
    }

    /** A pre-copy round's disk span is sent: paced as RAM's spans are. */
    private void afterDiskSpan(Channel ch, long bytes) {
        paced(bytes, () -> new MigrationException(Kind.TIMEOUT, String.format("did not converge within %d s (still copying disk blocks)",
                options.maxTime().toSeconds())));
    }

    /**
     * Tells the destination what the disks hold (a sample of blocks; the state is saved, so they are flushed) and, on
     * shared storage, lets go of their locks for it.
     */
    private void handOverDisks(Channel control) {
        Encoder disks = SharedDisks.handOver(machine, diskCopy == null);
        if (disks != null) {
            disksReleased = diskCopy == null;
            control.send(MessageType.DISKS, disks);
        }
    }

    private MigrationException giveUp(MigrationException e, boolean paused, boolean committed) {
        if (!committed && !channels.isEmpty() && (e.kind() == Kind.TIMEOUT || e.kind() == Kind.LOCAL || e.kind() == Kind.CANCELLED)) {
            channels.get(0).refuse("the source gives up: " + e.getMessage()); // so the destination says why
        }
        channels.forEach(Channel::close);
        vm.runControl().setThrottle(0);
        if (committed) {
            // The destination may have started the guest: never let two copies run.
            return new MigrationException(e.kind(), e.getMessage() + "; COMMIT was sent, so the destination may be running the guest:"
                    + " the source stays paused (resume it through its control socket only if the destination did not start)", e);
        }
        if (disksReleased) {
            try {
                SharedDisks.takeBack(machine); // before the guest may write here again
            } catch (MigrationException lost) {
                return new MigrationException(e.kind(), e.getMessage() + "; " + lost.getMessage(), e);
            }
        }
        if (paused && !pausedBefore) {
            vm.resumeAll();
        }
        return new MigrationException(e.kind(), e.getMessage() + (pausedBefore ? "; the guest stays paused on the source, as it was"
                : "; the guest keeps running on the source"), e);
    }

    private MigrationException timeout(long dirtyPages) {
        return new MigrationException(Kind.TIMEOUT, String.format("did not converge within %d s (%d pages still dirty, throttle %d%%)",
                options.maxTime().toSeconds(), dirtyPages, vm.runControl().throttlePercent()));
    }

    /** Opens and authenticates every connection; returns the session id. */
    private long connect(InetSocketAddress to) {
        Channel control = open(to);
        Handshake.client(control, options.auth(), 0, 0);
        Encoder setup = new Encoder().varUnsigned(options.effectiveConnections()).u64(vm.config().layout().totalSize())
                .varUnsigned((options.postcopy() ? MigrationReceiver.SETUP_POSTCOPY : 0) | (diskCopy != null ? MigrationReceiver.SETUP_COPY_DISKS : 0))
                .raw(SectionMessages.encode(VmConfigSection.DESCRIPTION, 0, vm.config()));
        if (diskCopy != null) {
            diskCopy.describe(setup);
        }
        control.send(MessageType.SETUP, setup);
        if (options.postcopy()) {
            postcopyThreads.prepare(1); // the urgent-page server a switch starts in the pause; its push threads start after it
        }
        long session = control.expect(MessageType.ACCEPT, d -> d.u64("session"));
        for (int i = 1; i < options.effectiveConnections(); i++) {
            join(open(to), session, i);
        }
        for (int i = 0; i < options.effectiveConnections(); i++) {
            writers.add(new PageWriter(share(options.maxBandwidth(), options.effectiveConnections())));
        }
        if (options.effectiveConnections() > 1) {
            pool = Executors.newFixedThreadPool(options.effectiveConnections() - 1, r -> {
                Thread t = new Thread(r, "migrate-send");
                t.setDaemon(true);
                return t;
            });
        }
        return session;
    }

    /** Authenticates {@code ch} as connection {@code index} of {@code session} and reads its ACCEPT into it. */
    private void join(Channel ch, long session, int index) {
        Handshake.client(ch, options.auth(), session, index);
        long joined = ch.expect(MessageType.ACCEPT, d -> d.u64("session"));
        if (joined != session) {
            throw ch.protocolError("connection " + index + " was accepted into session " + Long.toHexString(joined) + ", not " + Long.toHexString(session));
        }
    }

    /** Post-copy recovery: every connection of {@code session} anew, control (index 0) first. */
    private List<Channel> reconnect(InetSocketAddress to, long session) {
        List<Channel> out = new ArrayList<>();
        try {
            for (int i = 0; i < options.effectiveConnections(); i++) {
                Channel ch = dial(to);
                out.add(ch);
                join(ch, session, i);
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(Channel::close);
            throw e;
        }
    }

    private Channel open(InetSocketAddress to) {
        Channel ch = dial(to);
        channels.add(ch);
        return ch;
    }

    private Channel dial(InetSocketAddress to) {
        Socket s = new Socket();
        try {
            s.connect(to, 10_000);
            return new Channel(s, options.hook(), messages);
        } catch (IOException e) {
            try {
                s.close();
            } catch (IOException ignored) {
                // Nothing to free beyond the socket.
            }
            throw new MigrationException(Kind.LINK, "cannot connect to " + to + ": " + e.getMessage(), e);
        }
    }

    // The totals as loops, not streams: some are taken inside the pause, where a lambda's call site linked for the first
    // time in the process is a cost the guest waits for.
    private long pagesSent() {
        long n = 0;
        for (PageWriter w : writers) {
            n += w.pages();
        }
        return n;
    }

    private long zeroPagesSent() {
        long n = 0;
        for (PageWriter w : writers) {
            n += w.zeroPages();
        }
        return n;
    }

    private long bytesSent() {
        long n = 0;
        for (Channel c : channels) {
            n += c.bytesSent();
        }
        return n;
    }

    /**
     * Sends the marked pages; span k of the guest always goes over connection k mod N, so a page re-sent in a
     * later round follows its older copy on the same connection and cannot overtake it. Returns {pages, zero pages}.
     * With {@code last}, each data connection ends with DATA_END.
     */
    private long[] sendRound(long[][] maps, boolean last) {
        int n = channels.size();
        long pagesBefore = pagesSent();
        long zeroBefore = zeroPagesSent();
        List<Future<?>> work = new ArrayList<>();
        for (int c = 1; c < n; c++) {
            int conn = c;
            work.add(pool.submit(() -> {
                sendShare(maps, conn, n, last);
                if (last) {
                    channels.get(conn).send(MessageType.DATA_END, new Encoder());
                }
                return null;
            }));
        }
        sendShare(maps, 0, n, last);
        for (Future<?> f : work) {
            try {
                f.get();
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException r ? r : new MigrationException(Kind.LOCAL, String.valueOf(e.getCause()), e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MigrationException(Kind.LOCAL, "interrupted");
            }
        }
        return new long[] {pagesSent() - pagesBefore, zeroPagesSent() - zeroBefore};
    }

    private void sendShare(long[][] maps, int conn, int n, boolean last) {
        Channel ch = channels.get(conn);
        PageWriter w = writers.get(conn);
        for (Spans.Span span : Spans.of(vm.memory().layout().ranges(), conn, n)) {
            long before = ch.bytesSent();
            w.send(ch, vm.memory(), span.gpa(), span.pages(), maps[span.slot()], span.firstWord());
            if (!last) {
                paced(ch.bytesSent() - before, () -> timeout(DirtyLog.count(maps)));
            }
        }
    }

    /**
     * After a pre-copy span (of RAM or of a disk) took {@code bytes}: the bandwidth limit, a cancel, and the deadline
     * (post-copy switches at the round's end instead). The last round, the guest paused, runs to its end unpaced.
     */
    private void paced(long bytes, java.util.function.Supplier<MigrationException> late) {
        try {
            rate.take(bytes);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationException(Kind.LOCAL, "interrupted");
        }
        progress.checkCancelled();
        if (!options.postcopy() && System.nanoTime() > deadline) {
            throw late.get();
        }
    }
}
