package dev.stasis.migrate.postcopy;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.precopy.DirtyLog;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.precopy.RateLimit;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.migrate.protocol.Spans;
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
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * The source's side of a post-copy: once its guest is paused for good, it serves the destination's page requests
 * on the control connection (each answered at once, ahead of everything: the background stream runs on the data
 * connections, so an urgent page never queues behind it, as in QEMU's postcopy-preempt) and pushes every page
 * the destination lacks over the data connections, until the destination says it has them all (DONE).
 *
 * <p>A broken link after COMMIT loses nothing: every page stays here, the destination's vCPUs that need a
 * missing page wait, and this side reconnects within the recovery window. The destination then says which
 * pages it still lacks (NEED) and asks again for those it waits on, and both go on. Only a guest whose source
 * dies during post-copy is lost: its memory is split across two hosts.
 */
public final class PostcopySource {
    private static final Set<MessageType> CONTROL = EnumSet.of(MessageType.REQUEST, MessageType.PING, MessageType.READY, MessageType.STARTED, MessageType.DONE);
    private static final long RECONNECT_PAUSE_MILLIS = 500;
    private static final long DONE_TIMEOUT_SECONDS = 60;

    /** Opens the session's connections anew, control first, each authenticated and accepted into the session. */
    @FunctionalInterface
    public interface Reconnect {
        List<Channel> open();
    }

    /**
     * Page requests answered, repeated requests ignored (a page already sent on that connection), pages pushed in
     * the background (those of them zero), bytes sent from the start of the post-copy on, recoveries, and the
     * nanoTime STARTED arrived (-1 if it never did: the link broke first).
     */
    public record Stats(long requests, long repeats, long pushed, long zeroPages, long bytes, int recoveries, long startedAt) {}

    private final GuestMemory memory;
    private final List<MemoryRange> ranges;
    /** Per range: pages the destination may still lack and the background push has not sent. Guarded by itself. */
    private final long[][] need;
    /** Bounds the background push (--max-bandwidth); urgent pages never wait for it. */
    private final RateLimit rate;
    private final Duration window;
    private final Reconnect reconnect;
    private final Consumer<String> log;
    private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong repeats = new AtomicLong();
    private final AtomicLong pushed = new AtomicLong();
    private final AtomicLong zeroPages = new AtomicLong();
    /** Bytes sent by epochs that ended. */
    private final AtomicLong bytes = new AtomicLong();
    private volatile long startedAt = -1;
    private volatile boolean finished;
    private int recoveries;
    private Epoch epoch;
    private final SpareThreads spares;

    /** A stretch of the link, with what the source keeps per stretch. */
    private final class Epoch extends Link {
        /** Per range: the pages already answered on this control connection (asked again: ignored). */
        final long[][] urgentSent;
        /** What the connections had sent before this epoch (the first one's carried the pre-copy). */
        final long bytesBefore;
        private boolean counted;
        /** Data connections still pushing, and the nanoTime the last one finished. */
        final AtomicInteger pushing = new AtomicInteger();
        volatile long pushEnded;
        /** Whether this epoch's push threads were started (at STARTED, or at once for a recovered link). */
        volatile boolean pushStarted;

        Epoch(List<Channel> channels) {
            super(channels, events, spares);
            urgentSent = new long[ranges.size()][];
            for (int i = 0; i < urgentSent.length; i++) {
                urgentSent[i] = new long[need[i].length];
            }
            bytesBefore = sent();
        }

        long sent() {
            return control.bytesSent() + data.stream().mapToLong(Channel::bytesSent).sum();
        }

        @Override
        void join() {
            super.join();
            synchronized (this) {
                if (!counted) {
                    counted = true;
                    bytes.addAndGet(sent() - bytesBefore);
                }
            }
        }
    }

    /**
     * @param need the pages the destination must still get, per range (all of RAM when no pre-copy ran, else the
     *             pages dirtied since they were sent); this object owns it from here on
     */
    public PostcopySource(GuestMemory memory, long[][] need, RateLimit rate, Duration window, Reconnect reconnect, Consumer<String> log) {
        this(memory, need, rate, window, reconnect, log, new SpareThreads());
    }

    /** {@link #PostcopySource(GuestMemory, long[][], RateLimit, Duration, Reconnect, Consumer)}, its first threads from {@code spares}. */
    public PostcopySource(GuestMemory memory, long[][] need, RateLimit rate, Duration window, Reconnect reconnect, Consumer<String> log, SpareThreads spares) {
        this.spares = spares;
        if (need.length == 0 || memory.layout().ranges().size() != need.length) {
            throw new IllegalArgumentException("a need set of " + need.length + " ranges");
        }
        this.memory = memory;
        this.ranges = memory.layout().ranges();
        this.need = need;
        this.rate = rate;
        this.window = window;
        this.reconnect = reconnect;
        this.log = log;
    }

    /**
     * Begins serving page requests over {@code channels} (control first, then at least one data connection). The
     * background push starts when the destination says the guest runs (STARTED, in {@link #finish}): until then it
     * restores the state and starts the vCPUs, the guest's downtime still, and on a small host a push would take the
     * CPU those need; the pages they touch meanwhile it asks for.
     */
    public void start(List<Channel> channels) {
        start(channels, false);
    }

    private void start(List<Channel> channels, boolean push) {
        if (channels.size() < 2) {
            throw new IllegalArgumentException("post-copy needs a data connection beside the control connection");
        }
        Epoch ep = new Epoch(channels);
        epoch = ep;
        ep.spawn(() -> serveControl(ep), "postcopy-urgent");
        if (push) {
            startPush(ep);
        }
    }

    /** Starts {@code ep}'s push threads, once (at STARTED, after a second without it, or at once on a recovered link). */
    private void startPush(Epoch ep) {
        if (ep.pushStarted) {
            return;
        }
        ep.pushStarted = true;
        ep.pushing.set(ep.data.size());
        for (int i = 0; i < ep.data.size(); i++) {
            int conn = i;
            ep.spawn(() -> push(ep, conn), "postcopy-push");
        }
    }

    /**
     * Before COMMIT: waits for {@code type} (READY) from the destination, serving its page requests meanwhile.
     * A broken link fails the migration here: the destination has not started the guest.
     */
    public void await(MessageType type, long timeoutMillis) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            Object e = Link.next(events, deadline, type, "destination");
            if (e == type) {
                return;
            }
            throw epoch.control.protocolError("expected " + type + " from the destination, got " + e);
        }
    }

    /** Sends COMMIT: from here on the destination may run the guest, and a broken link is recovered, not fatal. */
    public void commit() {
        epoch.send(MessageType.COMMIT, new Encoder());
    }

    /**
     * After COMMIT: serves until the destination has every page, reconnecting within the window when the link
     * breaks. Throws when it could not finish (the destination is gone for longer than the window, or broke the
     * protocol); the guest's memory then is split and this side must keep its pages.
     */
    public Stats finish() {
        while (true) {
            Object e;
            try {
                e = events.poll(1, TimeUnit.SECONDS);
                Epoch now = epoch;
                if (e == null) {
                    startPush(now); // no STARTED within a second: the push goes all the same, so the pages get there
                }
                if (e == null && now.pushing.get() == 0 && System.nanoTime() - now.pushEnded > TimeUnit.SECONDS.toNanos(DONE_TIMEOUT_SECONDS)) {
                    throw new MigrationException(Kind.PROTOCOL, "every page was sent " + DONE_TIMEOUT_SECONDS
                            + " s ago and the destination has not said it has them all");
                }
            } catch (InterruptedException x) {
                Thread.currentThread().interrupt();
                throw new MigrationException(Kind.LOCAL, "interrupted during post-copy");
            }
            if (e == MessageType.DONE) {
                finished = true;
                Epoch ep = epoch;
                ep.data.forEach(Channel::close);
                ep.control.close();
                ep.join();
                return new Stats(requests.get(), repeats.get(), pushed.get(), zeroPages.get(), bytes.get(), recoveries, startedAt);
            }
            if (e == MessageType.STARTED) {
                startedAt = System.nanoTime();
                // Only now: between COMMIT and STARTED the destination starts the vCPUs, the guest's downtime still, and on a
                // small host push threads started at COMMIT took the CPU it needed (commit to started 4.0 -> 1.0 ms, medians).
                startPush(epoch);
                continue;
            }
            if (e instanceof Epoch ep && ep == epoch) {
                recover(ep);
            }
        }
    }

    /** Tells the destination why the source gives up (before COMMIT), between the control connection's other frames. */
    public void refuse(String reason) {
        Epoch ep = epoch;
        if (ep != null) {
            synchronized (ep.sendLock) {
                ep.control.refuse(reason);
            }
        }
    }

    /** Ends the current connections and their threads (after a failure; {@link #finish} closes its own). */
    public void close() {
        Epoch ep = epoch;
        if (ep != null) {
            ep.breakWith(new MigrationException(Kind.LINK, "closed"));
            ep.join();
        }
    }

    private void recover(Epoch broken) {
        MigrationException why = broken.broken.get();
        broken.join();
        if (why.kind() != Kind.LINK) {
            throw why;
        }
        long deadline = System.nanoTime() + window.toNanos();
        log.accept("post-copy: the link broke (" + why.getMessage() + "); the guest waits at the destination while this side reconnects (up to "
                + window.toSeconds() + " s)");
        MigrationException last = why;
        while (System.nanoTime() < deadline) {
            List<Channel> channels = null;
            try {
                channels = reconnect.open();
                Channel control = channels.get(0);
                long[][] missing = control.expect(MessageType.NEED, d -> PageSet.decode(d, memory.layout()));
                synchronized (need) {
                    for (int i = 0; i < need.length; i++) {
                        System.arraycopy(missing[i], 0, need[i], 0, need[i].length);
                    }
                }
                recoveries++;
                log.accept("post-copy: reconnected; " + DirtyLog.count(missing) + " pages still missing at the destination");
                start(channels, true);
                return;
            } catch (MigrationException e) {
                if (channels != null) {
                    channels.forEach(Channel::close);
                }
                if (e.kind() != Kind.LINK) {
                    throw e; // another session, refused, or not the destination we left: not a link to wait for
                }
                last = e;
                try {
                    Thread.sleep(RECONNECT_PAUSE_MILLIS);
                } catch (InterruptedException x) {
                    Thread.currentThread().interrupt();
                    throw new MigrationException(Kind.LOCAL, "interrupted during post-copy recovery");
                }
            }
        }
        throw new MigrationException(Kind.LINK, "post-copy could not reconnect to the destination within " + window.toSeconds() + " s (last: "
                + last.getMessage() + ")", last);
    }

    // ---- the urgent path ----

    private void serveControl(Epoch ep) {
        PageWriter writer = new PageWriter();
        long[] one = {1};
        try {
            while (true) {
                Frame f = ep.control.receive(CONTROL);
                switch (f.type()) {
                    case REQUEST -> {
                        long gpa = f.read(d -> d.u64("page address"));
                        MemoryRange r = gpa % Protocol.PAGE_SIZE == 0 ? memory.layout().find(gpa, Protocol.PAGE_SIZE) : null;
                        if (r == null) {
                            synchronized (ep.sendLock) {
                                ep.control.refuse(String.format("page request for 0x%x, which is not a page of guest RAM", gpa));
                            }
                            throw new MigrationException(Kind.PROTOCOL, String.format("the destination asked for 0x%x, which is not a page of guest RAM", gpa));
                        }
                        int slot = ranges.indexOf(r);
                        long index = (gpa - r.gpa()) / Protocol.PAGE_SIZE;
                        long bit = 1L << (index & 63);
                        int word = (int) (index >>> 6);
                        if ((ep.urgentSent[slot][word] & bit) != 0) {
                            repeats.incrementAndGet(); // sent on this connection already: it is on its way, once is enough
                            continue;
                        }
                        ep.urgentSent[slot][word] |= bit;
                        synchronized (need) {
                            need[slot][word] &= ~bit; // the push need not send it again
                        }
                        synchronized (ep.sendLock) {
                            writer.send(ep.control, memory, gpa, 1, one, 0);
                        }
                        requests.incrementAndGet();
                    }
                    case PING -> {
                        f.readEmpty();
                        ep.send(MessageType.PING, new Encoder());
                    }
                    case READY, STARTED -> {
                        f.readEmpty();
                        events.add(f.type());
                    }
                    case DONE -> {
                        long have = f.read(d -> d.u64("pages"));
                        ep.send(MessageType.DONE, new Encoder().u64(have));
                        events.add(MessageType.DONE);
                        return;
                    }
                    default -> throw ep.control.protocolError("unexpected " + f.type() + " during post-copy");
                }
            }
        } catch (SnapshotFormatException e) {
            ep.breakWith(new MigrationException(Kind.PROTOCOL, "bad message from the destination during post-copy: " + e.getMessage(), e));
        } catch (MigrationException e) {
            ep.breakWith(finished ? new MigrationException(Kind.LINK, "closed") : e);
        } catch (RuntimeException e) {
            ep.breakWith(new MigrationException(Kind.LOCAL, "post-copy failed on the source: " + e, e));
        }
    }

    // ---- the background push ----

    /** Data connection {@code conn} of the epoch sends span k of the guest when k mod (data connections) = conn. */
    private void push(Epoch ep, int conn) {
        Channel ch = ep.data.get(conn);
        PageWriter writer = new PageWriter();
        try {
            for (Spans.Span span : Spans.of(ranges, conn, ep.data.size())) {
                if (ep.broken.get() != null) {
                    return;
                }
                int words = (span.pages() + 63) / 64;
                long[] bits = new long[words];
                synchronized (need) {
                    for (int w = 0; w < words; w++) {
                        bits[w] = need[span.slot()][span.firstWord() + w];
                        need[span.slot()][span.firstWord() + w] = 0; // sent from here on; a broken link brings them back through NEED
                    }
                }
                long before = ch.bytesSent();
                pushed.addAndGet(writer.send(ch, memory, span.gpa(), span.pages(), bits, 0));
                rate.take(ch.bytesSent() - before);
            }
            zeroPages.addAndGet(writer.zeroPages());
            ch.send(MessageType.DATA_END, new Encoder());
            if (ep.pushing.decrementAndGet() == 0) {
                ep.pushEnded = System.nanoTime();
            }
        } catch (MigrationException e) {
            ep.breakWith(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            ep.breakWith(new MigrationException(Kind.LOCAL, "interrupted"));
        } catch (RuntimeException e) {
            ep.breakWith(new MigrationException(Kind.LOCAL, "post-copy push failed on the source: " + e, e));
        }
    }
}
