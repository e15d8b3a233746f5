package dev.stasis.migrate;

import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.memory.GuestMemory;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.postcopy.PageSet;
import dev.stasis.migrate.postcopy.PostcopyDestination;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.uffd.UffdUnavailableException;
import dev.stasis.vm.VmExit;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.vm.Vm;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.nio.file.Path;
import dev.stasis.migrate.disks.DiskCopyTarget;
import dev.stasis.migrate.disks.SharedDisks;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The destination side: accepts one source, builds an empty machine of the announced configuration,
 * fills its memory from PAGES as they come (on every connection), collects the sections, and restores them
 * in {@link dev.stasis.checkpoint.Checkpoint}'s order (memory, then {@code restoreState}) only once
 * everything arrived and the page count matches what the source says it sent. It then answers READY, and
 * starts the guest only on COMMIT. Whatever fails, it refuses with the reason and closes the machine: no
 * half-built guest ever runs, nothing stays allocated.
 */
public final class MigrationReceiver {
    /**
     * @param acceptTimeout how long to wait for the source to connect and authenticate, strangers and all
     *                      (zero = forever)
     * @param handshakes    how many handshakes may run at once and how long each may take
     */
    public record Options(Auth auth, Duration acceptTimeout, FaultHook hook, HandshakeGate.Limits handshakes, Duration recoverWindow,
                          Runnable linkDone, Runnable ready, Map<String, Path> diskPaths) {
        public Options(Auth auth, Duration acceptTimeout, FaultHook hook) {
            this(auth, acceptTimeout, hook, HandshakeGate.Limits.DEFAULT, MigrationSender.DEFAULT_RECOVER_WINDOW, () -> { }, () -> { }, Map.of());
        }

        public static Options of(Auth auth) {
            return new Options(auth, Duration.ZERO, FaultHook.NONE);
        }

        public Options withHook(FaultHook h) {
            return new Options(auth, acceptTimeout, h, handshakes, recoverWindow, linkDone, ready, diskPaths);
        }

        /** At most {@code maxPending} handshakes at once, each finished within {@code deadline} of its accept. */
        public Options withHandshakeLimits(int maxPending, Duration deadline) {
            return new Options(auth, acceptTimeout, hook, new HandshakeGate.Limits(maxPending, deadline), recoverWindow, linkDone, ready, diskPaths);
        }

        /** During a post-copy, how long to wait for a source whose link broke to come back. */
        public Options withRecoverWindow(Duration window) {
            return new Options(auth, acceptTimeout, hook, handshakes, window, linkDone, ready, diskPaths);
        }

        /**
         * {@code action} runs once the session needs the listening socket no more: when {@link #receive} returns after
         * a pre-copy, and after a post-copy once every page is in and the source was told (or the guest was lost).
         */
        public Options withLinkDone(Runnable action) {
            return new Options(auth, acceptTimeout, hook, handshakes, recoverWindow, action, ready, diskPaths);
        }

        /**
         * {@code action} runs once this end has run its restore and page paths on a scratch machine (about 0.3 s after
         * {@link #receive} starts here), or failed to: a source that comes after that finds them compiled. The socket
         * takes a source before that too, only more slowly.
         */
        public Options withReady(Runnable action) {
            return new Options(auth, acceptTimeout, hook, handshakes, recoverWindow, linkDone, action, diskPaths);
        }

        /**
         * Where this host has each disk of the guest, by id: on storage both hosts share, the image itself (it may be
         * mounted elsewhere than at the source); with {@code --copy-disks} at the source, where its copy goes (a new file).
         * A disk not named here is refused: the destination never opens a path the source names.
         */
        public Options withDiskPaths(Map<String, Path> paths) {
            return new Options(auth, acceptTimeout, hook, handshakes, recoverWindow, linkDone, ready, Map.copyOf(paths));
        }
    }

    private static final SecureRandom RANDOM = new SecureRandom();
    /** SETUP flag: the source may switch to post-copy. */
    public static final int SETUP_POSTCOPY = 1;
    /** SETUP flag: the disks' blocks come with the pre-copy (DISK_PAGES); the disk list follows the VM section. */
    public static final int SETUP_COPY_DISKS = 2;
    private static final int DATA_ACCEPT_TIMEOUT_MILLIS = 10_000;
    private static final Set<MessageType> CONTROL_MESSAGES = EnumSet.of(MessageType.PAGES, MessageType.ROUND, MessageType.SECTION, MessageType.END, MessageType.POSTCOPY,
            MessageType.DISKS, MessageType.DISK_PAGES);
    private static final Set<MessageType> DATA_MESSAGES = EnumSet.of(MessageType.PAGES, MessageType.DATA_END, MessageType.DISK_PAGES);

    private final HandshakeGate gate;
    private final OutputStream console;
    private final Options options;
    private final Consumer<String> log;
    private final List<Channel> channels = new ArrayList<>();
    private final AtomicInteger messages = new AtomicInteger();
    private final ServerSocket server;
    private Machine machine;
    /** The incoming guest's RAM, made at SETUP: pages go in while {@link #building} builds the VM around it. */
    private GuestMemory memory;
    /** The VM being built (KVM VM, memory slots, vCPUs: 7-12 ms here) while the pre-copy runs; null before SETUP. */
    private CompletableFuture<Machine> building;
    /** The post-copy being set up, until the guest runs (then it sees itself through). */
    private PostcopyDestination postcopy;
    /** {@code --copy-disks}: the disks' copies being written, or null. */
    private DiskCopyTarget diskCopy;

    private MigrationReceiver(ServerSocket server, OutputStream console, Options options, Consumer<String> log) {
        this.server = server;
        this.gate = new HandshakeGate(server, options.auth(), options.hook(), messages, log, options.handshakes());
        this.console = console;
        this.options = options;
        this.log = log;
    }

    /**
     * Receives one guest on {@code server} and returns its machine, already started (the source has been told
     * and stops its copy). Throws {@link MigrationException}, having freed everything, when it fails. After a
     * post-copy the guest's memory still arrives ({@code machine.memory().fill()}): {@code server} must stay open
     * until that is done, for a source whose link broke to come back on.
     */
    public static Machine receive(ServerSocket server, OutputStream console, Options options, Consumer<String> log) {
        return new MigrationReceiver(server, console, options, log).run();
    }

    private Machine run() {
        List<CompletableFuture<Long>> readers = new ArrayList<>();
        // While waiting for the source: the guest's CPU model is not known yet, and the default model's state
        // path is the same code, only the CPUID table differs.
        // Its repeats yield at the first connection, not once the source has authenticated: on a 2-core host they held the
        // handshake up (7-31 ms from connect to authenticated, cold code beside a busy warm-up).
        var warmup = StatePathWarmup.start(VmConfig.defaultCpu(), StatePathWarmup.Side.DESTINATION, gate::knocked, options.ready());
        try {
            long acceptDeadline = options.acceptTimeout().isZero() ? Long.MAX_VALUE : System.nanoTime() + options.acceptTimeout().toNanos();
            Channel control = acceptAuthenticated(acceptDeadline, "the source", 0, 0);
            log.accept("source " + control.peer() + " authenticated with " + options.auth().describe());
            Frame setup = control.expect(MessageType.SETUP);
            int connections;
            VmConfig config;
            boolean postcopyMayFollow;
            List<DiskCopyTarget.Announced> copiedDisks = List.of();
            try {
                Decoder d = setup.decoder();
                connections = d.varInt("connections", Protocol.MAX_CONNECTIONS);
                long totalBytes = d.u64("memory size");
                int flags = d.varInt("flags", SETUP_POSTCOPY | SETUP_COPY_DISKS);
                postcopyMayFollow = (flags & SETUP_POSTCOPY) != 0;
                SectionRecords records = new SectionRecords();
                SectionRecords.Key key = SectionMessages.decode(d, records);
                if ((flags & SETUP_COPY_DISKS) != 0) {
                    copiedDisks = DiskCopyTarget.announced(d);
                }
                d.end("SETUP");
                if (connections < 1 || !key.name().equals(VmConfigSection.DESCRIPTION.name())) {
                    throw d.malformed("SETUP must carry 1.." + Protocol.MAX_CONNECTIONS + " connections and the " + VmConfigSection.DESCRIPTION.name() + " section");
                }
                config = records.section(VmConfigSection.DESCRIPTION, 0);
                if (config.layout().totalSize() != totalBytes) {
                    throw d.malformed("memory size " + totalBytes + " disagrees with the VM section's " + config.layout().totalSize());
                }
            } catch (SnapshotFormatException | IllegalArgumentException | dev.stasis.snapshot.state.StateException e) {
                control.refuse("bad SETUP: " + e.getMessage());
                throw new MigrationException(Kind.PROTOCOL, "bad SETUP from " + control.peer() + ": " + e.getMessage(), e);
            }
            String misfit = HostCapacity.probe().refusal(config);
            if (misfit != null) {
                control.refuse("this destination cannot hold the guest: " + misfit);
                throw new MigrationException(Kind.LOCAL, "cannot hold the incoming guest: " + misfit);
            }
            // What can refuse the guest is checked now; the VM itself is built while the pages come.
            String cpu = Vm.cpuRefusal(config);
            if (cpu != null) {
                throw cannotBuild(control, cpu, null);
            }
            try {
                memory = new GuestMemory(config.layout());
            } catch (RuntimeException e) {
                throw cannotBuild(control, e.getMessage(), e);
            }
            building = build(config, memory);
            if (!copiedDisks.isEmpty()) {
                try {
                    diskCopy = DiskCopyTarget.create(copiedDisks, options.diskPaths());
                } catch (MigrationException e) {
                    control.refuse(e.getMessage());
                    throw e;
                }
                diskCopy.paths().forEach((id, path) -> log.accept("disk " + id + ": copying to " + path));
            }
            long session = RANDOM.nextLong() | 1;
            RemoteRam ram = postcopyMayFollow ? preparePostcopy(session, connections, control) : null;
            PageReader.Written written = new PageReader.Written(memory);
            control.send(MessageType.ACCEPT, new Encoder().u64(session));
            log.accept(String.format("receiving %d vCPUs, %d MiB over %d connection(s)", config.vcpus(), config.layout().totalSize() >> 20, connections));
            Progress progress = new Progress();
            for (int i = 1; i < connections; i++) {
                Channel data = acceptAuthenticated(System.nanoTime() + DATA_ACCEPT_TIMEOUT_MILLIS * 1_000_000L, "data connection " + i, session, i);
                data.send(MessageType.ACCEPT, new Encoder().u64(session));
                PageReader pages = new PageReader(memory, written, ram);
                DiskCopyTarget copies = diskCopy;
                readers.add(CompletableFuture.supplyAsync(() -> readData(data, pages, progress, copies), runnable -> {
                    Thread t = new Thread(runnable, "migrate-recv");
                    t.setDaemon(true);
                    t.start();
                }));
            }
            gate.stopAccepting(); // every connection of the session is in: nobody else is let in from here on
            PageReader pages = new PageReader(memory, written, ram);
            SectionRecords sections = new SectionRecords();
            int sectionCount = 0;
            long sentPages;
            long[][] stale = null; // the pages a post-copy still brings: null for a pre-copy to the end
            long announced = 0; // the pages the ROUNDs so far say were sent, on all connections
            long[][][] disks = null; // the source's sample of its disks' blocks (DISKS), for a guest with disks
            while (true) {
                Frame f = control.receive(CONTROL_MESSAGES);
                try {
                    switch (f.type()) {
                        case PAGES -> {
                            long before = pages.pages();
                            pages.apply(f);
                            progress.add(pages.pages() - before);
                        }
                        case ROUND -> {
                            // Answered only once the round's pages are in memory on every connection (the
                            // source sends the next round's only after this answer, so the applied count
                            // reaches the announced one exactly): the source measures the whole path, not
                            // its socket buffers.
                            Decoder d = f.decoder();
                            long round = d.varUnsigned("round", Long.MAX_VALUE);
                            long roundPages = d.varUnsigned("pages", Long.MAX_VALUE);
                            d.end("ROUND");
                            announced += roundPages;
                            progress.await(announced, round, readers);
                            // The VM built before any round is answered (a failed build refused now, not at the end of
                            // the pre-copy): the source may stop the guest after this answer, and with a round 1 of
                            // 5-10 ms the build (7-12 ms here) was at times still running at END, its rest in the pause.
                            built(control);
                            if (diskCopy != null) {
                                diskCopy.sync(); // the disks' blocks of the round made durable now, not in the pause
                            }
                            log.accept("round " + round + ": " + roundPages + " pages");
                            control.send(MessageType.ROUND, new Encoder().varUnsigned(round));
                        }
                        case SECTION -> {
                            if (++sectionCount > Protocol.MAX_SECTIONS) {
                                throw f.decoder().malformed("more than " + Protocol.MAX_SECTIONS + " sections");
                            }
                            Decoder d = f.decoder();
                            SectionMessages.decode(d, sections);
                            d.end("SECTION");
                        }
                        case DISK_PAGES -> applyDiskPages(control, f, diskCopy);
                        case DISKS -> {
                            if (disks != null || sectionCount > 0) {
                                throw f.decoder().malformed("DISKS comes once, before the sections");
                            }
                            disks = SharedDisks.decode(f.decoder());
                        }
                        case END, POSTCOPY -> { }
                        default -> throw control.protocolError("unexpected " + f.type() + " from the source");
                    }
                    if (f.type() == MessageType.END || f.type() == MessageType.POSTCOPY) {
                        Decoder d = f.decoder();
                        int count = d.varInt("section count", Protocol.MAX_SECTIONS);
                        sentPages = d.u64("pages sent");
                        if (f.type() == MessageType.POSTCOPY) {
                            stale = PageSet.decode(d, config.layout());
                        }
                        d.end(f.type().toString());
                        if (count != sectionCount) {
                            throw d.malformed("the source sent " + sectionCount + " sections but " + f.type() + " says " + count);
                        }
                        break;
                    }
                } catch (SnapshotFormatException e) {
                    control.refuse("bad " + f.type() + ": " + e.getMessage());
                    throw new MigrationException(Kind.PROTOCOL, "bad " + f.type() + " from the source: " + e.getMessage(), e);
                }
            }
            long tEnd = System.nanoTime();
            machine = built(control);
            long received = pages.pages();
            for (CompletableFuture<Long> r : readers) {
                received += join(r);
            }
            if (received != sentPages) {
                control.refuse("received " + received + " pages, the source says it sent " + sentPages);
                throw new MigrationException(Kind.PROTOCOL, "received " + received + " pages, the source says it sent " + sentPages);
            }
            if (ram != null) {
                if (stale != null) {
                    ram.drop(stale); // the pages the source wrote since it sent them: asked for again when touched
                    postcopy.begin(ram, List.copyOf(channels));
                    log.accept(String.format("post-copy: %d pages to come from the source while the guest runs", ram.missingCount()));
                }
                ram.release();
                if (stale == null && ram.missingCount() != 0) {
                    control.refuse("pre-copy ended with " + ram.missingCount() + " pages never sent");
                    throw new MigrationException(Kind.PROTOCOL, "pre-copy ended with " + ram.missingCount() + " pages never sent");
                }
            }
            if (stale == null && postcopy != null) {
                postcopy.close(); // the source finished by pre-copy: no post-copy link
                postcopy = null;
            } else if (stale != null && postcopy == null) {
                control.refuse("POSTCOPY in a session that did not announce post-copy in SETUP");
                throw new MigrationException(Kind.PROTOCOL, "POSTCOPY in a session that did not announce post-copy");
            }
            PostcopyDestination postcopy = this.postcopy;
            try {
                if (diskCopy != null) {
                    diskCopy.finish(); // every block is in: durable, then opened (and locked) as the guest's
                }
                // Shared: only now, the source has let go of them. Either way at the paths this host's operator gave.
                SharedDisks.attach(machine, sections, disks, diskCopy == null ? options.diskPaths() : diskCopy.paths(), diskCopy != null);
                for (var d : machine.disks()) { // loops, not lambdas: a lambda's first link would be in the pause
                    log.accept("disk " + d.id() + ": " + d.image().path() + (diskCopy == null ? " handed over by the source" : " copied"));
                }
            } catch (MigrationException e) {
                control.refuse(e.getMessage());
                throw e;
            }
            try {
                for (String note : machine.restoreState(sections)) {
                    log.accept("warning: " + note);
                }
            } catch (RuntimeException e) {
                control.refuse("the destination cannot restore the guest: " + e.getMessage());
                throw new MigrationException(Kind.LOCAL, "cannot restore the incoming guest: " + e.getMessage(), e);
            }
            long tRestored = System.nanoTime();
            if (postcopy == null) {
                control.send(MessageType.READY, new Encoder());
                control.expectEmpty(MessageType.COMMIT);
            } else {
                postcopy.send(MessageType.READY);
                postcopy.await(MessageType.COMMIT, Channel.READ_TIMEOUT_MILLIS);
            }
            long tCommit = System.nanoTime();
            machine.start();
            if (diskCopy != null) {
                diskCopy.keep(); // the guest runs on the copies: whatever fails from here, they stay
            }
            long tStarted = System.nanoTime();
            try {
                if (postcopy == null) {
                    control.send(MessageType.STARTED, new Encoder());
                } else {
                    postcopy.send(MessageType.STARTED);
                }
            } catch (MigrationException e) {
                // The guest is ours now; the source learns it from its own side or stays paused.
                log.accept("started, but could not tell the source: " + e.getMessage());
            }
            if (postcopy != null) {
                channels.clear(); // the post-copy's now, as is the listening socket
                postcopy.runInBackground();
                this.postcopy = null;
            }
            log.accept(String.format("guest running here (%d pages, %d sections); restore %.1f ms, start %.1f ms",
                    received, sectionCount, (tRestored - tEnd) / 1e6, (tStarted - tCommit) / 1e6));
            if (postcopy == null) {
                options.linkDone().run();
            }
            Machine running = machine;
            machine = null;
            building = null;
            memory = null; // the running machine's
            return running;
        } catch (MigrationException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new MigrationException(Kind.LOCAL, "migration failed on the destination: " + e.getMessage(), e);
        } finally {
            gate.close();
            channels.forEach(Channel::close);
            for (CompletableFuture<Long> r : readers) {
                try {
                    r.get(5, TimeUnit.SECONDS); // the readers must be done with guest memory before it is unmapped
                } catch (InterruptedException | ExecutionException | TimeoutException | java.util.concurrent.CancellationException ignored) {
                    // Closing its channel ended it; its error was already reported or does not matter now.
                }
            }
            if (postcopy != null) {
                postcopy.close(); // failed before the guest started: its connections and threads go first
            }
            closeUnfinished();
            if (diskCopy != null) {
                diskCopy.close(); // after the machine let go of them: a move that failed removes the copies
            }
            StatePathWarmup.finish(warmup); // its scratch VMs never outlive the receive
        }
    }

    /** Builds the machine around {@code memory} on a thread of its own (its vCPU threads are made meanwhile: not in the pause). */
    private CompletableFuture<Machine> build(VmConfig config, GuestMemory memory) {
        CompletableFuture<Machine> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(Machine.create(config, console, memory));
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "migrate-build");
        t.setDaemon(true);
        t.start();
        return f;
    }

    /** The machine, once built; refused to the source and thrown when it could not be. */
    private Machine built(Channel control) {
        try {
            return building.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw cannotBuild(control, e.getCause().getMessage(), e.getCause());
        }
    }

    /** The refusal of a guest this end cannot build a VM for: told to the source, and the exception to throw. */
    private static MigrationException cannotBuild(Channel control, String why, Throwable cause) {
        control.refuse("the destination cannot build the VM: " + why);
        return new MigrationException(Kind.LOCAL, "cannot build the incoming VM: " + why, cause);
    }

    /** A receive that failed: the machine closed once its build is over, or the memory alone when there is none. */
    private void closeUnfinished() {
        Machine m = machine;
        if (m == null && building != null) {
            try {
                m = building.join();
            } catch (RuntimeException e) {
                m = null; // not built: the memory is still ours
            }
        }
        if (m != null) {
            m.close();
        } else if (memory != null) {
            memory.close();
        }
    }

    /**
     * A session that may switch to post-copy (SETUP says so): RAM is registered with userfaultfd now, before any page
     * arrives, so the switch costs the guest no setup; pre-copy pages go in through it. Refused before ACCEPT where
     * userfaultfd is unavailable.
     */
    private RemoteRam preparePostcopy(long session, int connections, Channel control) {
        PostcopyDestination dest = new PostcopyDestination(memory, options.recoverWindow(),
                deadline -> acceptRecovery(session, connections, deadline), log, options.linkDone());
        dest.prepareThreads(connections);
        CompletableFuture<Machine> built = building; // a guest that lost memory runs only once it is built
        long[][] none = new long[memory.layout().ranges().size()][];
        for (int i = 0; i < none.length; i++) {
            none[i] = new long[(int) ((memory.layout().ranges().get(i).size() / Protocol.PAGE_SIZE + 63) / 64)];
        }
        try {
            RemoteRam ram = RemoteRam.start(memory, none, dest::request, cause -> {
                Machine m = built.getNow(null);
                if (m != null) {
                    stopForLostMemory(m, cause);
                }
            }, true);
            postcopy = dest;
            return ram;
        } catch (UffdUnavailableException e) {
            control.refuse("this destination cannot take a post-copy: " + e.getMessage());
            throw new MigrationException(Kind.LOCAL, "cannot take a post-copy: " + e.getMessage(), e);
        }
    }

    /** The post-copy could not be finished: the guest stops (it cannot run on without that memory), the exit says why. */
    private static void stopForLostMemory(Machine machine, Throwable cause) {
        machine.vm().stop(new VmExit(VmExit.Kind.HOST_FAILURE, 0, cause.getMessage() + "; the guest is lost: part of its memory stayed at the source", ""));
        try {
            machine.vm().runControl().awaitAllLeft(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Post-copy recovery: the source's connections into {@code session} anew, control first, each answered ACCEPT,
     * by {@code deadline}. Everyone else (strangers, another session, a new migration) is refused and logged while
     * the wait goes on.
     */
    private List<Channel> acceptRecovery(long session, int connections, long deadline) {
        List<Channel> out = new ArrayList<>();
        try (HandshakeGate recovery = new HandshakeGate(server, options.auth(), options.hook(), messages, log, options.handshakes())) {
            while (out.size() < connections) {
                String what = "connection " + out.size() + " of the source's reconnection";
                HandshakeGate.Admitted a = recovery.next(deadline, what);
                Handshake.Hello h = a.hello();
                if (h.session() == session && h.index() == 0 && !out.isEmpty()) {
                    out.forEach(Channel::close); // the source gave up on a partial set and starts over
                    out.clear();
                }
                if (h.session() == session && h.index() == out.size()) {
                    try {
                        a.channel().send(MessageType.ACCEPT, new Encoder().u64(session));
                        out.add(a.channel());
                    } catch (MigrationException e) {
                        out.forEach(Channel::close); // it will come back from connection 0; the deadline alone ends the wait
                        out.clear();
                    }
                    continue;
                }
                String reason = h.session() == session ? "expected " + what : h.session() == 0 ? "a post-copy migration is in progress here"
                        : "no migration session " + Long.toHexString(h.session()) + " here";
                a.channel().refuse(reason);
                log.accept("refused " + a.channel().peer() + " (" + reason + "); still waiting for " + what);
            }
            return out;
        } catch (RuntimeException e) {
            out.forEach(Channel::close);
            throw e;
        }
    }

    /** A data connection's loop: PAGES until DATA_END; returns the pages it applied. */
    private static long readData(Channel ch, PageReader pages, Progress progress, DiskCopyTarget disks) {
        while (true) {
            Frame f = ch.receive(DATA_MESSAGES);
            try {
                switch (f.type()) {
                    case PAGES -> {
                        long before = pages.pages();
                        pages.apply(f);
                        progress.add(pages.pages() - before);
                    }
                    case DISK_PAGES -> applyDiskPages(ch, f, disks);
                    case DATA_END -> {
                        f.readEmpty();
                        return pages.pages();
                    }
                    default -> throw ch.protocolError("unexpected " + f.type() + " on a data connection");
                }
            } catch (SnapshotFormatException e) {
                ch.refuse("bad " + f.type() + ": " + e.getMessage());
                throw new MigrationException(Kind.PROTOCOL, "bad " + f.type() + " from the source: " + e.getMessage(), e);
            }
        }
    }

    /** A DISK_PAGES from {@code ch} into its copy; one that cannot be written here (a full disk) is refused, saying why. */
    private static void applyDiskPages(Channel ch, Frame f, DiskCopyTarget disks) {
        if (disks == null) {
            throw f.decoder().malformed("DISK_PAGES in a session whose SETUP announced no copied disks");
        }
        try {
            disks.apply(f);
        } catch (MigrationException e) {
            ch.refuse(e.getMessage());
            throw e;
        }
    }

    private static long join(CompletableFuture<Long> reader) {
        try {
            return reader.get(Channel.READ_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw e.getCause() instanceof MigrationException m ? m : new MigrationException(Kind.LOCAL, String.valueOf(e.getCause()), e.getCause());
        } catch (TimeoutException e) {
            throw new MigrationException(Kind.LINK, "a data connection did not finish");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationException(Kind.LOCAL, "interrupted");
        }
    }

    /**
     * The next peer through the {@link HandshakeGate} that asks for {@code session} ({@code index}), by
     * {@code deadline} (System.nanoTime, MAX_VALUE = none). Strangers (port scans, health checks, wrong keys,
     * other versions, peers too slow for the handshake deadline) are refused and logged by the gate; here an
     * authenticated peer asking for a session that does not exist, or for a new one while this one is being
     * set up, is refused the same way. Only an authenticated peer naming another session or index ends the
     * migration: it holds the key, so it is a confused source, not a stranger.
     */
    private Channel acceptAuthenticated(long deadline, String what, long session, int index) {
        while (true) {
            HandshakeGate.Admitted a = gate.next(deadline, what);
            Channel ch = a.channel();
            Handshake.Hello h = a.hello();
            channels.add(ch);
            if (h.session() == session && h.index() == index) {
                return ch;
            }
            if (session != 0 && h.session() != 0) {
                ch.refuse("expected data connection " + index + " of session " + Long.toHexString(session));
                throw new MigrationException(Kind.PROTOCOL, "data connection " + index + " did not join this session");
            }
            String reason = session == 0 ? "no migration session " + Long.toHexString(h.session()) + " here" : "a migration is already in progress here";
            ch.refuse(reason);
            channels.remove(ch);
            log.accept("refused " + ch.peer() + " (" + reason + "); still waiting for " + what);
        }
    }

    /**
     * Pages applied on all connections of the session, so the control connection can answer ROUND only
     * once every connection has applied the round's pages.
     */
    private static final class Progress {
        private long applied;

        synchronized void add(long pages) {
            applied += pages;
            notifyAll();
        }

        /** Waits until {@code target} pages are applied; a data connection that failed or ended first fails this. */
        synchronized void await(long target, long round, List<CompletableFuture<Long>> readers) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Channel.READ_TIMEOUT_MILLIS);
            while (applied < target) {
                for (CompletableFuture<Long> r : readers) {
                    if (r.isDone()) {
                        join(r); // throws its failure
                        throw new MigrationException(Kind.PROTOCOL, "a data connection ended before round " + round + " was complete");
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new MigrationException(Kind.LINK, "the pages of round " + round + " did not all arrive within "
                            + Channel.READ_TIMEOUT_MILLIS / 1000 + " s (" + applied + " of " + target + " applied)");
                }
                try {
                    wait(Math.max(1, Math.min(100, TimeUnit.NANOSECONDS.toMillis(left)))); // wakes to see a failed reader
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException(Kind.LOCAL, "interrupted");
                }
            }
            if (applied > target) {
                throw new MigrationException(Kind.PROTOCOL, "the source sent " + applied + " pages but its ROUNDs announce " + target);
            }
        }
    }
}
