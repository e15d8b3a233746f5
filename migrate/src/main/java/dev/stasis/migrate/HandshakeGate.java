package dev.stasis.migrate;

import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.os.KeptThreads;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The destination's door: accepts connections and runs each one's handshake on a thread of its own, so
 * strangers are dealt with side by side, never one after another. Each handshake has an absolute deadline
 * from its accept (not a per-read timeout: a peer dripping one byte at a time is cut off at the same moment
 * as a silent one), and at most {@link Limits#maxPending} run at once. When that many are running, the
 * oldest is dropped to make room for the newcomer: a real source finishes its handshake in one round trip,
 * so strangers that hold connections open cannot keep it out, and each of them costs one thread, about
 * 130 KiB of buffers, at most {@link Limits#deadline} and one log line.
 *
 * <p>Peers that pass the handshake are handed to {@link #next} in the order they finished; what they asked
 * for (new session, which data connection) is the receiver's to judge.
 */
public final class HandshakeGate implements AutoCloseable {
    /** How many handshakes may run at once, and how long each may take from its accept. */
    public record Limits(int maxPending, Duration deadline) {
        public static final Limits DEFAULT = new Limits(32, Duration.ofSeconds(10));

        public Limits {
            if (maxPending < 1 || deadline.isNegative() || deadline.isZero()) {
                throw new IllegalArgumentException("handshake limits need maxPending >= 1 and a positive deadline");
            }
        }
    }

    /** A peer that passed the handshake, and what it asked for. */
    record Admitted(Channel channel, Handshake.Hello hello) {}

    /** A handshake running; {@code reason} is set when the gate itself cut it off (deadline, room). */
    private static final class Pending {
        final Channel channel;
        volatile String reason;
        /** Cut because the gate closed: the receiver is done waiting, so nobody needs the line. */
        volatile boolean quiet;
        ScheduledFuture<?> timer;

        Pending(Channel channel) {
            this.channel = channel;
        }

        void cut(String why) {
            reason = why;
            channel.close();
        }
    }

    private static final int ACCEPT_POLL_MILLIS = 200;

    private final ServerSocket server;
    private final Auth auth;
    private final FaultHook hook;
    private final AtomicInteger messages;
    private final Consumer<String> log;
    private final Limits limits;
    private final Deque<Pending> pending = new ArrayDeque<>(); // oldest first; guarded by itself
    private final BlockingQueue<Admitted> admitted = new LinkedBlockingQueue<>();
    private final ScheduledExecutorService timers;
    /**
     * The handshakes' threads, kept and one made ahead (as the timers' is): a thread made at the first connection,
     * twice over, was most of the source's wait for its HELLO's answer (0.5-6 ms each on a 2-core host).
     */
    private final KeptThreads handshakes = new KeptThreads("migrate-handshake", false, 1, Duration.ofSeconds(30));
    private final Thread acceptor;
    private volatile boolean closed;
    /** Set at the first connection accepted, before its handshake: someone (most likely the source) is here. */
    private volatile boolean knocked;
    /** What the receiver waits for now, for the log line of a refused stranger. */
    private volatile String awaited = "the source";

    HandshakeGate(ServerSocket server, Auth auth, FaultHook hook, AtomicInteger messages, Consumer<String> log, Limits limits) {
        this.server = server;
        this.auth = auth;
        this.hook = hook;
        this.messages = messages;
        this.log = log;
        this.limits = limits;
        ScheduledThreadPoolExecutor t = new ScheduledThreadPoolExecutor(1, r -> daemon(r, "migrate-handshake-timer"));
        t.setRemoveOnCancelPolicy(true); // a finished handshake's timer must not linger until its deadline
        t.prestartCoreThread();
        this.timers = t;
        this.acceptor = daemon(this::acceptLoop, "migrate-accept");
        acceptor.start();
    }

    /**
     * The next peer that passed the handshake, waiting until {@code deadline} (System.nanoTime; MAX_VALUE = no
     * limit); {@code what} names what is awaited, for the error and the strangers' log lines.
     */
    Admitted next(long deadline, String what) {
        awaited = what;
        try {
            while (true) {
                if (!acceptor.isAlive() && admitted.isEmpty()) {
                    throw new MigrationException(Kind.LINK, "waiting for " + what + ": the listening socket closed");
                }
                long left = deadline == Long.MAX_VALUE ? TimeUnit.SECONDS.toNanos(1) : deadline - System.nanoTime();
                if (left <= 0) {
                    throw new MigrationException(Kind.LINK, what + " did not connect and authenticate in time");
                }
                Admitted a = admitted.poll(Math.min(left, TimeUnit.SECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
                if (a != null) {
                    return a;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MigrationException(Kind.LOCAL, "interrupted while waiting for " + what);
        }
    }

    private void acceptLoop() {
        try {
            server.setSoTimeout(ACCEPT_POLL_MILLIS); // wakes to see close()
        } catch (IOException e) {
            return;
        }
        while (!closed) {
            Socket s;
            try {
                s = server.accept();
            } catch (SocketTimeoutException e) {
                continue;
            } catch (IOException e) {
                return; // the listening socket was closed: next() reports it
            }
            knocked = true;
            Channel ch;
            try {
                ch = new Channel(s, hook, messages);
                ch.setReadTimeout((int) limits.deadline().toMillis()); // a backstop: the timer below cuts it off first
            } catch (IOException | MigrationException e) {
                closeQuietly(s); // gone before it said anything
                continue;
            }
            Pending p = new Pending(ch);
            synchronized (pending) {
                if (closed) {
                    ch.close();
                    return;
                }
                while (pending.size() >= limits.maxPending()) {
                    pending.removeFirst().cut("dropped unfinished to make room: " + limits.maxPending() + " handshakes were running");
                }
                pending.addLast(p);
                p.timer = timers.schedule(() -> p.cut("did not finish the handshake within " + seconds(limits.deadline())),
                        limits.deadline().toNanos(), TimeUnit.NANOSECONDS);
            }
            try {
                handshakes.execute(() -> handshake(p));
            } catch (RejectedExecutionException e) {
                ch.close(); // the gate closed meanwhile
            }
        }
    }

    private void handshake(Pending p) {
        Handshake.Hello hello = null;
        String failure = null;
        try {
            hello = Handshake.server(p.channel, auth);
            p.channel.setReadTimeout(Channel.READ_TIMEOUT_MILLIS); // the session's own timeout from here on
        } catch (MigrationException e) {
            failure = e.getMessage();
        } catch (RuntimeException e) {
            failure = "handshake failed: " + e; // must not happen; a stranger still costs one line
        }
        boolean cut;
        synchronized (pending) {
            pending.remove(p);
            p.timer.cancel(false);
            cut = p.reason != null;
            if (hello != null && !cut && !closed) {
                admitted.add(new Admitted(p.channel, hello));
                return;
            }
            p.quiet |= closed;
        }
        p.channel.close();
        if (!p.quiet) {
            String why = cut ? p.reason : failure != null ? failure : "the gate closed";
            log.accept("refused " + p.channel.peer() + " (" + why + "); still waiting for " + awaited);
        }
    }

    /** Whether a connection was accepted yet, authenticated or not: work that only warms up yields the CPU from then on. */
    boolean knocked() {
        return knocked;
    }

    /**
     * Lets nobody else in, at once: pending handshakes are cut and a connection accepted from now on is closed. It
     * does not wait for the acceptor thread (which wakes every {@value #ACCEPT_POLL_MILLIS} ms), so the session it
     * is called for goes on without that delay.
     */
    public void stopAccepting() {
        synchronized (pending) {
            closed = true;
            for (Pending p : pending) { // a loop, not a lambda: linked first here, inside a post-copy's pause
                p.quiet = true;
                p.cut("the destination stopped accepting");
            }
            pending.clear();
        }
        timers.shutdownNow();
        handshakes.shutdown(); // a handshake still running was cut above: its thread ends with it
    }

    /** {@link #stopAccepting}, then waits for the acceptor thread and closes every admitted peer nobody took. */
    @Override
    public void close() {
        stopAccepting();
        try {
            acceptor.join(ACCEPT_POLL_MILLIS * 5L);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (Admitted a; (a = admitted.poll()) != null; ) {
            a.channel().close();
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // Nothing more to free.
        }
    }
}
