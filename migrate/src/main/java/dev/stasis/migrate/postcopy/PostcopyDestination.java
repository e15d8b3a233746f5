package dev.stasis.migrate.postcopy;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.os.SpareThreads;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Encoder;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The destination's side of a post-copy: the link to the source while the guest runs here on memory that is
 * partly still there. {@link RemoteRam} asks for the pages vCPUs wait on ({@link #request}: a REQUEST on the
 * control connection, whose answer comes back on that connection ahead of the background stream on the data
 * connections); every PAGES from either is installed. The control connection carries a PING a second each way,
 * so a vanished peer is seen within seconds.
 *
 * <p>When the link breaks, nothing is given up: the vCPUs that need a missing page wait, and the source is
 * awaited on the listening socket for the recovery window. A source that comes back into the session is told
 * which pages are still missing (NEED) and asked again for those waited on. Only when the window passes, or the
 * source breaks the protocol, is the guest stopped: its memory cannot be completed, and it is lost.
 */
public final class PostcopyDestination implements AutoCloseable {
    private static final Set<MessageType> CONTROL = EnumSet.of(MessageType.PAGES, MessageType.PING, MessageType.COMMIT, MessageType.DONE);
    private static final Set<MessageType> DATA = EnumSet.of(MessageType.PAGES, MessageType.DATA_END);
    private static final long PING_MILLIS = 1000;
    private static final Object RAM_DONE = new Object();

    /** Waits until {@code deadline} (System.nanoTime) for the source to come back into the session; control first, each accepted. */
    @FunctionalInterface
    public interface Acceptor {
        List<Channel> accept(long deadline);
    }

    private final GuestMemory memory;
    private final Duration window;
    private final Acceptor acceptor;
    private final Consumer<String> log;
    private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    /** Run once the link is over for good: every page in and the source told, or the guest lost. */
    private final Runnable finished;
    private volatile RemoteRam ram;
    private volatile Epoch epoch;
    private volatile boolean closed;
    private int recoveries;
    private Thread supervisor;

    /** A stretch of the link. */
    private final class Epoch extends Link {
        Epoch(List<Channel> channels) {
            super(channels, events, spares);
        }
    }

    /** The first link's threads, made at the session's set-up ({@link #prepareThreads}), not in the guest's pause. */
    private final SpareThreads spares = new SpareThreads();

    /** Makes the threads of a link over {@code connections} connections now: its control and data readers and its pings. */
    public void prepareThreads(int connections) {
        spares.prepare(connections + 1);
    }

    /**
     * @param window how long to wait for the source to come back when the link breaks after the guest started
     */
    public PostcopyDestination(GuestMemory memory, Duration window, Acceptor acceptor, Consumer<String> log, Runnable finished) {
        this.finished = finished;
        this.memory = memory;
        this.window = window;
        this.acceptor = acceptor;
        this.log = log;
    }

    /** The {@link RemoteRam.Requester}: asks the source for {@code gpa}; while the link is down the request waits for recovery. */
    public void request(long gpa) {
        Epoch ep = epoch;
        if (ep == null || ep.broken.get() != null) {
            return; // asked again from RemoteRam.pendingRequests once the source is back
        }
        try {
            ep.send(MessageType.REQUEST, new Encoder().u64(gpa));
        } catch (MigrationException e) {
            ep.breakWith(e);
        }
    }

    /** Serves {@code ram} over {@code channels} (control first, then the data connections). */
    public void begin(RemoteRam ram, List<Channel> channels) {
        this.ram = ram;
        start(channels);
        ram.whenDone(() -> events.add(RAM_DONE));
    }

    private void start(List<Channel> channels) {
        Epoch ep = new Epoch(channels);
        epoch = ep;
        ep.spawn(() -> readControl(ep), "postcopy-control");
        for (Channel ch : ep.data) {
            ep.spawn(() -> readData(ep, ch), "postcopy-data");
        }
        ep.spawn(() -> ping(ep), "postcopy-ping");
    }

    /** Sends {@code type} (READY, STARTED) on the control connection. */
    public void send(MessageType type) {
        epoch.send(type, new Encoder());
    }

    /** Before the guest starts: waits for {@code type} (COMMIT), installing pages meanwhile; a broken link fails here. */
    public void await(MessageType type, long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        boolean ramDone = false;
        try {
            while (true) {
                Object e = Link.next(events, deadline, type, "source");
                if (e == type) {
                    return;
                }
                if (e != RAM_DONE) {
                    throw new MigrationException(Kind.PROTOCOL, "expected " + type + " from the source, got " + e);
                }
                if (ram.failure() != null) { // before COMMIT: the source resumes its guest
                    throw new MigrationException(Kind.LOCAL, "the guest's memory failed before it started: " + ram.failure().getMessage(), ram.failure());
                }
                ramDone = true; // every page came before the guest even started
            }
        } finally {
            if (ramDone) {
                events.add(RAM_DONE); // for the supervisor
            }
        }
    }

    /** The guest runs: from here on a thread of its own sees the post-copy through, recovering the link as needed. */
    public void runInBackground() {
        supervisor = daemon(this::supervise, "postcopy-supervisor");
        supervisor.start();
    }

    private void supervise() {
        try {
            while (!closed) {
                Object e = events.take();
                if (e == RAM_DONE) {
                    complete();
                    return;
                }
                if (e instanceof Epoch ep && ep == epoch && !recover(ep)) {
                    return;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            finished.run();
        }
    }

    /**
     * Every page is here: tells the source (which then ends), and lets go of the link. When the source does not
     * acknowledge (the link broke around the last page), it is let back in within the window to hear it: told
     * that nothing is missing, then DONE again.
     */
    private void complete() {
        RemoteRam.Stats s = ram.stats();
        long until = System.nanoTime() + window.toNanos();
        while (ram.failure() == null && !closed) {
            Epoch ep = epoch;
            if (ep.broken.get() == null) {
                try {
                    ep.send(MessageType.DONE, new Encoder().u64(s.installed()));
                    if (awaitAcknowledgement(ep)) {
                        break;
                    }
                } catch (MigrationException e) {
                    ep.breakWith(e);
                }
            }
            ep.join();
            try {
                List<Channel> channels = acceptor.accept(until);
                Encoder none = new Encoder();
                PageSet.encode(none, ram.missingPages());
                channels.get(0).send(MessageType.NEED, none);
                recoveries++;
                start(channels);
            } catch (MigrationException e) {
                log.accept("post-copy: every page is here, but the source did not hear it (" + e.getMessage() + ")");
                break;
            }
        }
        Epoch ep = epoch;
        ep.breakWith(new MigrationException(Kind.LINK, "post-copy done"));
        ep.join();
        if (ram.failure() == null) {
            log.accept(String.format("post-copy done: %d pages arrived, %d requested by faults (round trip median %.2f ms, 99%% %.2f ms, max %.2f ms), %d recoveries",
                    s.installed(), s.roundTrips(), s.medianNanos() / 1e6, s.p99Nanos() / 1e6, s.maxNanos() / 1e6, recoveries));
        }
    }

    /** True when the source answers DONE on {@code ep} within 10 s; false when that link broke or stayed silent. */
    private boolean awaitAcknowledgement(Epoch ep) {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        try {
            while (true) {
                Object e = events.poll(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                if (e == MessageType.DONE) {
                    return true;
                }
                if (e == null) {
                    ep.breakWith(new MigrationException(Kind.LINK, "no DONE from the source within 10 s"));
                    return false;
                }
                if (e == ep) {
                    return false;
                }
            }
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /** Waits for the source to come back; false when the guest is lost (the window passed or the source broke the protocol). */
    private boolean recover(Epoch broken) {
        MigrationException why = broken.broken.get();
        broken.join();
        if (ram.isDone()) {
            return ram.failure() == null; // every page arrived first (RAM_DONE is queued), or the fill failed for good
        }
        if (why.kind() != Kind.LINK) {
            lose("the source broke the post-copy protocol: " + why.getMessage(), why);
            return false;
        }
        log.accept("post-copy: the link to the source broke (" + why.getMessage() + "); " + ram.missingCount()
                + " pages missing, vCPUs that need one wait; waiting up to " + window.toSeconds() + " s for the source to reconnect");
        long deadline = System.nanoTime() + window.toNanos();
        while (!closed) {
            List<Channel> channels;
            try {
                channels = acceptor.accept(deadline);
            } catch (MigrationException e) {
                lose("the source did not reconnect within " + window.toSeconds() + " s (" + e.getMessage() + ")", e);
                return false;
            }
            try {
                Encoder need = new Encoder();
                PageSet.encode(need, ram.missingPages());
                channels.get(0).send(MessageType.NEED, need);
            } catch (MigrationException e) {
                channels.forEach(Channel::close);
                continue;
            }
            recoveries++;
            start(channels);
            long[] pending = ram.pendingRequests();
            for (long gpa : pending) {
                request(gpa);
            }
            log.accept("post-copy: the source reconnected; " + pending.length + " page requests sent again");
            return true;
        }
        return false;
    }

    private void lose(String why, Throwable cause) {
        if (ram.isDone()) {
            return; // all memory arrived meanwhile, or the VM closed: nothing is lost
        }
        log.accept("post-copy failed: " + why + "; the guest is lost (its memory is split between the hosts)");
        ram.fail(new MigrationException(Kind.LINK, "post-copy could not finish: " + why, cause));
    }

    private void readControl(Epoch ep) {
        PageReader pages = new PageReader(memory, null);
        try {
            while (true) {
                Frame f = ep.control.receive(CONTROL);
                switch (f.type()) {
                    case PAGES -> pages.install(f, ram);
                    case PING -> f.readEmpty();
                    case COMMIT, DONE -> {
                        f.read(d -> f.type() == MessageType.DONE ? d.u64("pages") : null);
                        events.add(f.type());
                    }
                    default -> throw ep.control.protocolError("unexpected " + f.type() + " during post-copy");
                }
            }
        } catch (SnapshotFormatException e) {
            refuse(ep, ep.control, e);
        } catch (MigrationException e) {
            ep.breakWith(e);
        } catch (RuntimeException e) {
            ep.breakWith(new MigrationException(Kind.LOCAL, "post-copy failed on the destination: " + e, e));
        }
    }

    private void readData(Epoch ep, Channel ch) {
        PageReader pages = new PageReader(memory, null);
        try {
            while (true) {
                Frame f = ch.receive(DATA);
                if (f.type() == MessageType.DATA_END) {
                    f.readEmpty();
                    return; // this connection's share of the push is in; the control connection goes on
                }
                pages.install(f, ram);
            }
        } catch (SnapshotFormatException e) {
            refuse(ep, ch, e);
        } catch (MigrationException e) {
            ep.breakWith(e);
        } catch (RuntimeException e) {
            ep.breakWith(new MigrationException(Kind.LOCAL, "post-copy failed on the destination: " + e, e));
        }
    }

    private void refuse(Epoch ep, Channel ch, SnapshotFormatException e) {
        synchronized (ep.sendLock) {
            ch.refuse("bad message during post-copy: " + e.getMessage());
        }
        ep.breakWith(new MigrationException(Kind.PROTOCOL, "bad message from the source during post-copy: " + e.getMessage(), e));
    }

    private void ping(Epoch ep) {
        try {
            while (!ep.awaitBroken(PING_MILLIS)) {
                ep.send(MessageType.PING, new Encoder());
            }
        } catch (MigrationException e) {
            ep.breakWith(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Ends the link and its threads (the migration failed before the guest started, or the VM closes). */
    @Override
    public void close() {
        closed = true;
        spares.close();
        Epoch ep = epoch;
        if (ep != null) {
            ep.breakWith(new MigrationException(Kind.LINK, "closed"));
            ep.join();
        }
        if (supervisor != null) {
            supervisor.interrupt();
        }
    }

    /** A daemon thread of the post-copy's, not started (the rehearsal's too). */
    static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }
}
