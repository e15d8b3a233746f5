package dev.stasis.memory;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.os.EventFd;
import dev.stasis.os.KeptThreads;
import dev.stasis.os.UninterruptibleJoin;
import dev.stasis.snapshot.container.ChunkAccess;
import dev.stasis.uffd.PageFault;
import dev.stasis.uffd.UffdException;
import dev.stasis.uffd.Userfaultfd;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Guest RAM filled from a snapshot file after the guest has started: the memory engine of a lazy restore
 * (Firecracker's UFFD page-fault handler and QEMU's post-copy do the same with userfaultfd).
 *
 * <p>{@link #start} registers all RAM in missing mode before anything touches it. A fault (a vCPU in KVM_RUN,
 * KVM itself writing the pvclock page, a VMM thread through a JNA accessor) arrives at the fault thread, which
 * reads the chunk holding the page from the file ({@link ChunkAccess}: CRC and every check of an eager read) and
 * puts it in place, which wakes the toucher: decoded at its place in a {@link StagingArea} and moved in whole
 * (UFFDIO_MOVE, Linux 6.8: no copy, and huge pages where an eager restore's first touch gets them), or else decoded
 * packed and its non-zero pages copied in (UFFDIO_COPY); a page still missing then is one the file holds as zero,
 * and gets a zero page. Prefetch threads fill the other chunks, the order given first (the chunks the guest touched
 * first last time), then by address, while a thread of its own reads the heads of the file's chunks (which chunks
 * references read from: those stay decoded for them); a chunk all zero needs no call at all: all but one CPU's worth
 * from the start (the restore puts the state back on the other), the rest once the vCPUs run ({@link #guestStarted}).
 * When every chunk is in, RAM is unregistered (pages never filled are zero, as the file says) and the file let go.
 *
 * <p>Never a zero page for a lost one: if a chunk cannot be read (the file truncated, corrupt, a disk error), a
 * thread of its own stops the guest while the fault thread goes on serving the chunks it can (so a kicked vCPU
 * waiting on a readable page can leave KVM_RUN); only then is the descriptor closed, which lets blocked accesses
 * through to a guest that no longer runs. {@link #awaitResident} fails from then on, and after a {@link #close}
 * before all memory was in, so nothing saves or sends RAM that is not the file's.
 *
 * <p>Java threads and faults (as for {@link PointInTimeRam}): a thread stopped by a fault in Java code (a direct
 * ByteBuffer over RAM) would hold up every safepoint, and these threads with it. So {@link GuestMemory#buffer}
 * and the pagemap readers wait for {@link #awaitResident} first; JNA accessors fault in native code, which is safe.
 */
public final class LazyRam implements RamFill {
    private static final int PAGE = PageCopies.PAGE;
    private static final int MISSING = 0, FILLING = 1, FILLED = 2;
    /**
     * The threads restores serve faults and fetch chunks on, the process's (starting five took 1-8 ms of a 12-20 ms
     * restore in a running process on this software KVM's host); the fetchers at background priority.
     */
    private static final KeptThreads SERVERS = new KeptThreads("stasis-fill", false, 0, Duration.ofMinutes(1));
    private static final KeptThreads FETCHERS = new KeptThreads("stasis-fill-fetch", true, 0, Duration.ofMinutes(1));

    /**
     * What the restore did: faults served, chunks read for a fault and by prefetch, chunks of those moved into RAM
     * (the others were copied, or all zero), chunks decoded again for the references of others, and the nanoseconds
     * from {@link #start} to the first fault and to every page in place (-1 until then).
     */
    public record Stats(long faults, int chunksOnFault, int chunksPrefetched, int chunksMoved, int chunksDecodedAgain, long firstFaultNanos, long residentNanos) {}

    private final GuestMemory memory;
    private final ChunkAccess chunks;
    private final MissingPageRegistration registration;
    private final Userfaultfd uffd;
    private final long[] chunkHost;
    private final AtomicIntegerArray states;
    private final int[] order;
    private final AtomicInteger nextPrefetch = new AtomicInteger();
    private final AtomicInteger filled = new AtomicInteger();
    private final AtomicInteger onFault = new AtomicInteger();
    private final AtomicInteger prefetched = new AtomicInteger();
    private final AtomicInteger moved = new AtomicInteger();
    /** Whether chunks are moved into RAM (UFFDIO_MOVE), until the kernel first refuses one; else copied. */
    private volatile boolean moving;
    private final AtomicLong faults = new AtomicLong();
    private final AtomicLong firstFault = new AtomicLong(-1);
    private final AtomicLong resident = new AtomicLong(-1);
    private final long t0 = System.nanoTime();
    private final EventFd stop;
    /** How many fetch threads, and how many of them fetch from the start rather than once the guest runs. */
    private final int fetchers, early;
    /** The threads serving this restore (set by {@link #start}). */
    private KeptThreads.Running faultServer;
    private final List<KeptThreads.Running> prefetchers = new ArrayList<>();
    private KeptThreads.Running heads;
    private final FillOutcome outcome = new FillOutcome("lazy restore");
    private final Consumer<Throwable> stopGuest;
    private final Object fillLock = new Object();
    /** The chunks in the order faults first asked for them: what a next restore should fetch first. */
    private final List<Integer> faultOrder = new ArrayList<>();
    /** Whether prefetch runs now: from {@link #guestStarted} (if asked for) or {@link #awaitResident} on. */
    private volatile boolean prefetching;
    private final boolean prefetchWhenStarted;
    private volatile boolean closed;
    /** After a failure, once the guest has stopped: the fault thread ends. */
    private volatile boolean shutdown;
    private volatile Thread stopper;
    /** Threads still running: the last one out closes the userfaultfd, so no thread ever uses a closed (reused) number. */
    private final AtomicInteger live = new AtomicInteger();

    private LazyRam(GuestMemory memory, ChunkAccess chunks, MissingPageRegistration registration, int[] first, boolean prefetch, boolean movePages,
            Consumer<Throwable> stopGuest) {
        this.registration = registration;
        this.stop = registration.stop;
        this.memory = memory;
        this.chunks = chunks;
        this.uffd = registration.uffd;
        this.moving = movePages && uffd.moves();
        this.stopGuest = stopGuest;
        this.prefetchWhenStarted = prefetch;
        int n = chunks.count();
        this.chunkHost = new long[n];
        for (int i = 0; i < n; i++) {
            chunkHost[i] = Pointer.nativeValue(memory.pointer(chunks.gpa(i), chunks.length(i)));
        }
        this.states = new AtomicIntegerArray(n);
        this.order = prefetchOrder(first, n);
        int cpus = Runtime.getRuntime().availableProcessors();
        this.fetchers = Math.max(1, Math.min(4, cpus));
        // All but one CPU's worth start at once, while the restore puts the state back on the other; the rest join
        // when the guest runs. On one CPU none starts early: the restore would wait for them. They run at background
        // priority: the restore, the vCPUs and the fault server come first (the start of a lazy restore in a process
        // varied 0.1-12 ms here beside them at the same priority).
        this.early = prefetch ? Math.min(fetchers, cpus - 1) : 0;
    }

    /**
     * Registers all of {@code memory} (untouched: just created) with a new userfaultfd in missing mode and starts
     * serving it from {@code chunks}. {@code first} lists chunk indices to fetch before the rest (may be empty;
     * unknown or repeated indices are ignored); {@code prefetch} starts fetching the rest at {@link #guestStarted},
     * false fetches only on fault until {@link #awaitResident} (tests hold pages back with it); {@code movePages} moves
     * chunks in decoded in place where the kernel can (UFFDIO_MOVE), false copies them. {@code stopGuest} is called
     * once if a chunk cannot be read, and must return only once no vCPU runs (or it gave up waiting). Throws
     * {@link dev.stasis.uffd.UffdUnavailableException} naming what is missing.
     */
    public static LazyRam start(GuestMemory memory, ChunkAccess chunks, int[] first, boolean prefetch, boolean movePages, Consumer<Throwable> stopGuest) {
        MissingPageRegistration fd = MissingPageRegistration.open(memory);
        LazyRam ram;
        try {
            ram = new LazyRam(memory, chunks, fd, first, prefetch, movePages, stopGuest);
            fd.registerAll();
        } catch (RuntimeException | Error e) {
            fd.close(); // closing unregisters
            throw e;
        }
        memory.fillingFrom(ram);
        ram.live.set(1 + ram.fetchers);
        ram.faultServer = SERVERS.run("stasis-lazy-restore-faults", ram::serveFaults);
        ram.heads = FETCHERS.run("stasis-lazy-restore-heads", ram::readHeads);
        for (int t = 0; t < ram.fetchers; t++) {
            boolean now = t < ram.early;
            ram.prefetchers.add(FETCHERS.run("stasis-lazy-restore-" + (t + 1), () -> ram.prefetch(now)));
        }
        return ram;
    }

    private static int[] prefetchOrder(int[] first, int n) {
        int[] out = new int[n];
        boolean[] taken = new boolean[n];
        int k = 0;
        for (int c : first) {
            if (c >= 0 && c < n && !taken[c]) {
                taken[c] = true;
                out[k++] = c;
            }
        }
        for (int c = 0; c < n; c++) {
            if (!taken[c]) {
                out[k++] = c;
            }
        }
        return out;
    }

    /**
     * The vCPUs run: every fetch thread goes (unless only faults were asked for). Not all before: on a small host the
     * fetch threads would take the CPUs the restore needs to get the guest running.
     */
    @Override
    public void guestStarted() {
        if (prefetchWhenStarted) {
            beginPrefetch();
        }
    }

    private void beginPrefetch() {
        synchronized (fillLock) {
            prefetching = true;
            fillLock.notifyAll();
        }
    }

    /** True once every page is in place (or the restore failed: see {@link #awaitResident}). */
    @Override
    public boolean isDone() {
        return outcome.isDone();
    }

    /**
     * Waits until every page is in place, fetching at full speed from here on. Throws {@link IllegalStateException}
     * naming the cause when the restore failed: RAM then is not the file's and must not be saved or sent.
     */
    @Override
    public void awaitResident() {
        if (!prefetching) {
            beginPrefetch();
        }
        outcome.await();
    }

    /** Runs {@code action} once every page is in place, the restore failed or this closed; at once if that was so. */
    @Override
    public void whenDone(Runnable action) {
        outcome.whenDone(action);
    }

    public Stats stats() {
        return new Stats(faults.get(), onFault.get(), prefetched.get(), moved.get(), chunks.decodedApart(), firstFault.get(), resident.get());
    }

    /** The order prefetch fetches chunks in: those asked for first, then the rest by address. */
    public int[] fetchOrder() {
        return order.clone();
    }

    /** The chunks in the order the guest first touched them (a side file keeps this for the next restore). */
    public int[] faultOrder() {
        synchronized (faultOrder) {
            return faultOrder.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    @Override
    public Throwable failure() {
        return outcome.failure();
    }

    // ---- the fault thread ----

    private void serveFaults() {
        Memory buffer = Userfaultfd.messageBuffer(64);
        try (ChunkAccess.Reader reader = chunks.reader(); Filler data = new Filler()) {
            while (!shutdown && uffd.await(stop, -1)) {
                int n = uffd.read(buffer);
                for (int i = 0; i < n; i++) {
                    PageFault f = Userfaultfd.fault(buffer, i);
                    if (f == null) {
                        continue;
                    }
                    try {
                        serve(f.address() & -PAGE, reader, data);
                    } catch (Throwable t) {
                        if (resident.get() >= 0) {
                            return; // RAM is unregistered: a fault read before that needs nothing more
                        }
                        // That page stays missing; the others are still served until the guest has stopped, so a
                        // vCPU that waits on a readable page can leave KVM_RUN when it is kicked.
                        fail(t);
                    }
                }
            }
        } catch (Throwable t) {
            if (resident.get() < 0) {
                fail(t);
            }
        } finally {
            exit();
        }
    }

    private void serve(long address, ChunkAccess.Reader reader, Filler data) throws Exception {
        long count = faults.incrementAndGet();
        if (count == 1) {
            firstFault.set(System.nanoTime() - t0);
        }
        long gpa = memory.gpaOf(address);
        int c = gpa < 0 ? -1 : chunks.chunkOf(gpa);
        if (c < 0) {
            throw new IllegalStateException(String.format("a fault at host address 0x%x is outside the guest RAM the file holds", address));
        }
        synchronized (faultOrder) {
            if (faultOrder.isEmpty() || faultOrder.get(faultOrder.size() - 1) != c) {
                faultOrder.add(c); // before the fill: the fill of the last chunk records the order
            }
        }
        ChunkAccess.PagePlacement pages = fill(c, reader, data, onFault);
        if (pages != null && pages.nonZero((int) ((gpa - chunks.gpa(c)) / PAGE))) {
            return; // this thread copied the page in, which woke the toucher
        }
        if (pages == null) {
            awaitFilled(c);
        }
        // The chunk is in: its non-zero pages are present; a page still missing is one the file holds as zero.
        uffd.zeroPageWhereMissing(address, PAGE);
    }

    // ---- prefetch ----

    /** A fetch thread: from the start when {@code early}, else once prefetch begins. */
    private void prefetch(boolean early) {
        try (ChunkAccess.Reader reader = chunks.reader(); Filler data = new Filler()) {
            for (int k = nextPrefetch.getAndIncrement(); k < order.length && stopping() == null; k = nextPrefetch.getAndIncrement()) {
                synchronized (fillLock) {
                    while (!prefetching && !early && stopping() == null) {
                        fillLock.wait();
                    }
                }
                if (stopping() == null) {
                    fill(order[k], reader, data, prefetched);
                }
            }
        } catch (Throwable t) {
            fail(t);
        } finally {
            exit();
        }
    }

    /** Which chunks references read from, from the heads of the file's chunks, beside the fetchers. */
    private void readHeads() {
        try (ChunkAccess.Reader reader = chunks.reader()) {
            reader.findSources();
        }
    }

    /** Why the threads should stop, or null while they should go on. */
    private Object stopping() {
        return closed ? "closed" : outcome.failure();
    }

    /**
     * Reads chunk {@code c} in, counts it in {@code counter} and marks it filled; returns where its non-zero pages were,
     * or null when another thread has it (or had it) already.
     */
    private ChunkAccess.PagePlacement fill(int c, ChunkAccess.Reader reader, Filler data, AtomicInteger counter) throws Exception {
        if (!states.compareAndSet(c, MISSING, FILLING)) {
            return null;
        }
        ChunkAccess.PagePlacement pages = data.fill(c, reader);
        counter.incrementAndGet();
        synchronized (fillLock) {
            states.set(c, FILLED);
            fillLock.notifyAll();
        }
        if (filled.incrementAndGet() == chunks.count()) {
            finish();
        }
        return pages;
    }

    /**
     * A fill thread's buffer, and how its chunks reach RAM: decoded at their places into a {@link StagingArea} and moved
     * in (UFFDIO_MOVE, Linux 6.8) while the kernel moves them, else decoded packed and copied in (UFFDIO_COPY).
     */
    private final class Filler implements AutoCloseable {
        private final StagingArea staging = moving ? new StagingArea(chunks.chunkSize()) : null;
        private final ByteBuffer packed = ByteBuffer.allocateDirect(chunks.chunkSize());
        private final Pointer packedAt = Native.getDirectBufferPointer(packed);

        ChunkAccess.PagePlacement fill(int c, ChunkAccess.Reader reader) throws Exception {
            if (staging != null && moving) {
                ChunkAccess.PagePlacement pages = reader.read(c, staging.buffer());
                if (pages.any()) {
                    moveIn(c, pages);
                }
                return pages;
            }
            ChunkAccess.PagePlacement pages = reader.readPacked(c, packed);
            pages.forEachRun((from, to, at) -> uffd.copyWhereMissing(chunkHost[c] + (long) from * PAGE, packedAt.share(at), (long) (to - from) * PAGE));
            return pages;
        }

        /**
         * The chunk's whole range moved in (its zero pages too where the area got a huge page); if the kernel refuses, what
         * did not move is copied in from the area, the area cleared, and this restore copies from here on.
         */
        private void moveIn(int c, ChunkAccess.PagePlacement pages) throws Exception {
            Pointer from = staging.address();
            try {
                uffd.move(chunkHost[c], Pointer.nativeValue(from), chunks.length(c));
                moved.incrementAndGet();
            } catch (UffdException e) {
                moving = false;
                pages.forEachRun((first, to, at) -> uffd.copyWhereMissing(chunkHost[c] + (long) first * PAGE, from.share(at), (long) (to - first) * PAGE));
                staging.clear();
            }
        }

        @Override
        public void close() {
            if (staging != null) {
                staging.close();
            }
        }
    }

    private void awaitFilled(int c) throws InterruptedException {
        synchronized (fillLock) {
            while (states.get(c) != FILLED && stopping() == null) {
                fillLock.wait(100);
            }
        }
        if (states.get(c) != FILLED) {
            throw new IllegalStateException("lazy restore stopped while chunk " + c + " was being read", outcome.failure());
        }
    }

    /** Every chunk is in: RAM leaves userfaultfd (waking anyone still waiting), and the file is let go. */
    private void finish() {
        resident.set(System.nanoTime() - t0);
        registration.unregisterAll();
        stop.signal();
        complete();
    }

    /**
     * The first failure: a thread of its own stops the guest (the fault thread goes on serving the chunks it can
     * meanwhile); once it has, the threads end, and the last one out closes the descriptor, which lets every access
     * still blocked through, to zero pages, in a guest that no longer runs.
     */
    private void fail(Throwable t) {
        synchronized (this) { // against close(): either it sees the stopper, or this sees it closed
            if (closed || !outcome.fail(t)) {
                return;
            }
            startStopper(t);
        }
    }

    private void startStopper(Throwable t) {
        synchronized (fillLock) {
            fillLock.notifyAll(); // prefetch stops; waits on a chunk that will not come end
        }
        Thread stopper = new Thread(() -> {
            try {
                stopGuest.accept(t);
            } finally {
                shutdown = true;
                stop.signal();
                complete();
            }
        }, "stasis-lazy-restore-stop");
        stopper.setDaemon(true);
        this.stopper = stopper;
        stopper.start();
    }

    private void exit() {
        if (live.decrementAndGet() == 0) {
            uffd.close();
        }
    }

    private void complete() {
        chunks.dropCache();
        outcome.complete();
    }

    /** Stops the threads and lets go of RAM; any access still waiting goes through. Before RAM is unmapped. */
    @Override
    public void close() {
        Thread s;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (resident.get() < 0) {
                // Memory not all in is not the file's: nothing may take it as whole from here on.
                outcome.fail(new IllegalStateException("the lazy restore was closed before all memory was in"));
            }
            s = stopper;
        }
        if (s != null) {
            UninterruptibleJoin.of(s);
        }
        stop.signal();
        synchronized (fillLock) {
            fillLock.notifyAll();
        }
        if (faultServer != null) { // null only if start failed to hand it a thread
            faultServer.join();
        }
        prefetchers.forEach(KeptThreads.Running::join);
        if (heads != null) {
            heads.join();
        }
        stop.close();
        complete();
    }
}
