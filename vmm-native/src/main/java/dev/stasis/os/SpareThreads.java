package dev.stasis.os;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Threads started ahead, each waiting to run one body and end, as a new thread would (so joining it waits for that
 * body): for threads a guest would wait on while they are made (a post-copy's link and a migrated guest's vCPUs, inside
 * its pause; a restored guest's vCPUs, made while its state goes in), where a new thread cost 0.5-6 ms on a slow host.
 */
public final class SpareThreads {
    private record Spare(Thread thread, CompletableFuture<Runnable> body) {}

    /** Makes the spares asked for in the background, so the asking thread goes on meanwhile: one for the process. */
    private static final ExecutorService MAKER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "spare-thread-maker");
        t.setDaemon(true);
        return t;
    });

    private final BlockingQueue<Spare> ready = new LinkedBlockingQueue<>();
    /** Spares asked for so far, made or being made. */
    private int asked;
    private boolean closed;

    /** Has {@code n} spares made in all (daemons), counting those asked for before (maybe still being made elsewhere). */
    public void prepare(int n) {
        for (int more = claim(n); more > 0; more--) {
            CompletableFuture<Runnable> body = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                Runnable r = body.join();
                if (r != null) {
                    r.run();
                }
            }, "spare");
            t.setDaemon(true);
            t.start();
            offer(new Spare(t, body));
        }
    }

    /** {@link #prepare}, by another thread: a {@link #start} that comes first makes its own thread. */
    public void prepareInBackground(int n) {
        MAKER.execute(() -> prepare(n));
    }

    /** {@code body} running on a thread named {@code name}: a spare while one is left, else a new thread. */
    public Thread start(Runnable body, String name) {
        Spare s = ready.poll();
        if (s == null) {
            Thread t = new Thread(body, name);
            t.setDaemon(true);
            t.start();
            return t;
        }
        s.thread().setName(name);
        s.body().complete(body);
        return s.thread();
    }

    /** The spares not taken end, and so do any made from now on. */
    public void close() {
        synchronized (this) {
            closed = true;
        }
        for (Spare s; (s = ready.poll()) != null; ) {
            s.body().complete(null);
        }
    }

    /** How many more to make for {@code n} in all (none once closed), counted as asked for. */
    private synchronized int claim(int n) {
        int more = closed ? 0 : Math.max(0, n - asked);
        asked += more;
        return more;
    }

    private void offer(Spare s) {
        synchronized (this) {
            if (!closed) {
                ready.add(s);
                return;
            }
        }
        s.body().complete(null); // made while the owner closed: it ends unused
    }
}
