package dev.stasis.junit;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Clones of one golden image made ahead, paused ({@link StasisGuest#pool}): {@link #take} hands one over by resuming
 * it, and a thread of the pool makes the next. The first use fills the pool before it hands anything over, so the first
 * test already gets a made clone. Every clone still in a pool is closed when the JVM ends.
 */
public final class ClonePool {
    /** One pool per image and identity place. */
    private record Key(Path golden, long identityAt) {}

    private static final Map<Key, ClonePool> POOLS = new ConcurrentHashMap<>();

    private final Path golden;
    private final long identityAt;
    private final LinkedBlockingQueue<GuestClone> ready = new LinkedBlockingQueue<>();
    private final AtomicInteger wanted = new AtomicInteger();
    private final Object refill = new Object();
    private volatile IOException failure;

    private ClonePool(Path golden, long identityAt) {
        this.golden = golden;
        this.identityAt = identityAt;
        Thread t = new Thread(this::keepFilled, "stasis clone pool " + golden.getFileName());
        t.setDaemon(true);
        t.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> ready.forEach(GuestClone::close)));
    }

    /** The pool of {@code golden}, at least {@code size} clones deep (the extension's for {@code @StasisGuest(pool = size)}). */
    public static ClonePool of(Path golden, int size) throws IOException {
        return of(golden.toAbsolutePath().normalize(), size, -1);
    }

    /** The pool of {@code golden} whose clones find their identity at {@code identityAt}, at least {@code size} clones deep. */
    static ClonePool of(Path golden, int size, long identityAt) throws IOException {
        ClonePool p = POOLS.computeIfAbsent(new Key(golden, identityAt), k -> new ClonePool(golden, identityAt));
        p.grow(size);
        return p;
    }

    private void grow(int size) throws IOException {
        synchronized (refill) {
            if (size <= wanted.get()) {
                return;
            }
            checkFits(size);
            wanted.set(size);
            while (ready.size() < size) {
                ready.add(make()); // the first use waits for its clones: the first test gets one made ahead too
            }
        }
    }

    /**
     * Refuses a pool whose clones could not all be held: each shares the golden image's pages until it writes, but
     * may come to write all its RAM, so {@code size} clones may need {@code size} times it.
     */
    private void checkFits(int size) throws IOException {
        GuestClone.requireExists(golden);
        long ram;
        try (var reader = dev.stasis.snapshot.container.SnapshotReader.open(golden)) {
            ram = reader.load(dev.stasis.vm.VmConfigSection.DESCRIPTION, 0).layout().totalSize();
        } catch (IOException | RuntimeException e) {
            throw new IOException("golden image " + golden + " cannot be restored here: " + e.getMessage(), e);
        }
        long available = dev.stasis.memory.HostMemory.available();
        if ((double) ram * size > available) {
            throw new IOException(String.format("a pool of %d clones of golden image %s (%d MiB of RAM each) may need %d MiB, and this host"
                    + " has %d MiB available: ask for at most %d", size, golden, ram >> 20, (ram * size) >> 20, available >> 20, available / ram));
        }
    }

    private GuestClone make() throws IOException {
        return GuestClone.of(golden, GuestClone.nextNumber(golden), identityAt, true);
    }

    /** A clone, running: one made ahead if there is one, else one made now. {@link GuestClone#close} it when done. */
    public GuestClone take() throws IOException {
        GuestClone c = ready.poll();
        synchronized (refill) {
            refill.notifyAll();
        }
        if (c == null) {
            try {
                c = make(); // the pool is behind (or failing): this test's clone is made now, and says why if it cannot be
            } catch (IOException | RuntimeException e) {
                IOException last = failure;
                if (last != null && last != e) {
                    e.addSuppressed(last);
                }
                throw e;
            }
        } else {
            c.handedOverFromPool();
        }
        c.resume();
        return c;
    }

    private void keepFilled() {
        while (true) {
            try {
                synchronized (refill) {
                    while (ready.size() >= wanted.get()) {
                        refill.wait();
                    }
                }
                ready.add(make());
                failure = null;
            } catch (IOException | RuntimeException e) {
                failure = e instanceof IOException io ? io : new IOException(e.getMessage(), e); // take() makes its own clone meanwhile
                synchronized (refill) {
                    try {
                        refill.wait(5000); // a failing image is tried again now and then, not in a busy loop
                    } catch (InterruptedException ie) {
                        return;
                    }
                }
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
