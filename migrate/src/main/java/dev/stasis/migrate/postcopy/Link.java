package dev.stasis.migrate.postcopy;

import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.os.SpareThreads;
import dev.stasis.snapshot.codec.Encoder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One stretch of a post-copy's connections (control first, then the data connections) with the threads that serve
 * them, at either end. The first failure breaks all of it at once and is queued for the side's own thread to act on
 * (recover or give up); a recovery makes a new one. Several threads send on the control connection, so they go
 * through {@link #send}.
 */
class Link {
    /** A PING a second flows on the control connection: this much silence means the peer is gone. */
    static final int CONTROL_TIMEOUT_MILLIS = 10_000;

    final Channel control;
    final List<Channel> data;
    final Object sendLock = new Object();
    final AtomicReference<MigrationException> broken = new AtomicReference<>();
    /** Open until the link breaks: a thread that waits between frames (the pings) ends at once, not at its next frame. */
    private final CountDownLatch brokenSignal = new CountDownLatch(1);
    private final List<Thread> threads = new ArrayList<>();
    private final BlockingQueue<Object> events;

    /** Where its threads come from: those started ahead while there are, else new ones. */
    private final SpareThreads spares;

    /** @param events where this link queues itself when it breaks */
    Link(List<Channel> channels, BlockingQueue<Object> events, SpareThreads spares) {
        this.spares = spares;
        this.control = channels.get(0);
        this.data = List.copyOf(channels.subList(1, channels.size()));
        this.events = events;
        control.setReadTimeout(CONTROL_TIMEOUT_MILLIS);
        // Liveness is the control connection's (its pings); a data connection may rightly stay quiet longer than any
        // read timeout while --max-bandwidth holds the push back between spans.
        data.forEach(ch -> ch.setReadTimeout(0));
    }

    void send(MessageType type, Encoder payload) {
        synchronized (sendLock) {
            control.send(type, payload);
        }
    }

    void breakWith(MigrationException e) {
        if (broken.compareAndSet(null, e)) {
            brokenSignal.countDown();
            control.close();
            data.forEach(Channel::close);
            events.add(this);
        }
    }

    /** Waits up to {@code millis} for the link to break; whether it did. */
    boolean awaitBroken(long millis) throws InterruptedException {
        return brokenSignal.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** Starts {@code body} on a daemon thread of this link. */
    void spawn(Runnable body, String name) {
        synchronized (threads) {
            threads.add(spares.start(body, name));
        }
    }

    /**
     * The next event in {@code events} by {@code deadline} (System.nanoTime): a broken link throws its failure, none
     * in time throws a {@link MigrationException.Kind#LINK} saying no {@code awaited} came from {@code peer}.
     */
    static Object next(BlockingQueue<Object> events, long deadline, Object awaited, String peer) {
        Object e;
        try {
            e = events.poll(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS);
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
            throw new MigrationException(MigrationException.Kind.LOCAL, "interrupted");
        }
        if (e == null) {
            throw new MigrationException(MigrationException.Kind.LINK, "no " + awaited + " from the " + peer + " in time");
        }
        if (e instanceof Link link) {
            throw link.broken.get();
        }
        return e;
    }

    /** Waits (5 s at most each) for this link's threads, the caller's own excepted. */
    void join() {
        List<Thread> all;
        synchronized (threads) {
            all = List.copyOf(threads);
        }
        for (Thread t : all) {
            if (t != Thread.currentThread()) {
                try {
                    t.join(5000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
