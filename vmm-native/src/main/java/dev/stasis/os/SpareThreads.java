package dev.stasis.os;

import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Threads started ahead, each waiting to run one body and end, as a new thread would (so joining it waits for that
 * body): for threads a guest would wait on while they are made (a post-copy's link and a migrated guest's vCPUs, inside
 * its pause), where a new thread cost 0.5-6 ms on a slow host.
 */
public final class SpareThreads {
    private record Spare(Thread thread, CompletableFuture<Runnable> body) {}

    private final BlockingQueue<Spare> ready = new LinkedBlockingQueue<>();

    /** Starts {@code n} spares, daemons. */
    public void prepare(int n) {
        for (int i = 0; i < n; i++) {
            CompletableFuture<Runnable> body = new CompletableFuture<>();
            Thread t = new Thread(() -> {
                Runnable r = body.join();
                if (r != null) {
                    r.run();
                }
            }, "spare");
            t.setDaemon(true);
            t.start();
            ready.add(new Spare(t, body));
        }
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

    /** The spares not taken end. */
    public void close() {
        for (Spare s; (s = ready.poll()) != null; ) {
            s.body().complete(null);
        }
    }
}
