package dev.stasis.memory;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.stasis.os.EventFd;
import dev.stasis.os.UninterruptibleJoin;
import dev.stasis.uffd.PageFault;
import dev.stasis.uffd.Userfaultfd;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Guest RAM whose missing pages another host brings while the guest runs: the destination's memory engine of a
 * post-copy migration (QEMU's post-copy does the same with userfaultfd). It knows nothing of the protocol: a
 * fault on a page not here goes to a {@link Requester} once, and pages come back through {@link #install}, from
 * whichever connection carried them, urgent or background.
 *
 * <p>{@link #start} registers all RAM in missing mode before the state goes back. A page is here when it holds
 * its data already (pre-copied) or is known to be zero; every other page is missing until installed. A fault on
 * a page here maps a zero page (it is one that was never written: zero), a fault on a missing one asks for it
 * and leaves the toucher waiting until its page is installed (UFFDIO_COPY wakes it). When no page is missing,
 * RAM leaves userfaultfd.
 *
 * <p>Nothing here gives up: while the link is down the touchers simply wait. Only {@link #fail} (the migration
 * layer decides that the pages cannot come any more) stops the guest, from a thread of its own, and then lets
 * the waiting accesses through to a guest that no longer runs.
 */
public final class RemoteRam implements RamFill {
    private static final int PAGE = PageCopies.PAGE;
    private static final int MAX_SAMPLES = 1 << 16;

    /** Asks the other host for the page at {@code gpa}; called once per missing page (again only via {@link #pendingRequests}). */
    @FunctionalInterface
    public interface Requester {
        void request(long gpa);
    }

    /**
     * Faults seen, pages requested, pages installed, and the round trips of requests (fault read to page installed):
     * median, 99th percentile and maximum in nanoseconds (-1 when there was none); nanoseconds from start until no
     * page was missing (-1 until then).
     */
    public record Stats(long faults, long requests, long installed, long roundTrips, long medianNanos, long p99Nanos, long maxNanos, long residentNanos) {}

    private final GuestMemory memory;
    private final MissingPageRegistration registration;
    private final Userfaultfd uffd;
    private final EventFd stop;
    private final Requester requester;
    private final Consumer<Throwable> stopGuest;
    private final Object lock = new Object();
    /** Per range: pages here (data in place or known zero). Guarded by lock. */
    private final long[][] have;
    /** Per range: pages an {@link #install} is copying in right now. Guarded by lock. */
    private final long[][] installing;
    /** Requested and not yet installed: gpa to the nanoTime of its fault. Guarded by lock. */
    private final Map<Long, Long> pending = new HashMap<>();
    private final long[] samples = new long[MAX_SAMPLES];
    private int sampleCount;
    private long roundTrips;
    private long missing;
    private long installed;
    /** Set (under lock) by whoever saw the last page arrive: only it finishes. */
    private boolean finishing;
    /** While pre-copy still runs, RAM stays registered even with no page missing: the switch may drop some. Guarded by lock. */
    private boolean held;
    private final AtomicLong faults = new AtomicLong();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong resident = new AtomicLong(-1);
    private final long t0 = System.nanoTime();
    private final Thread faultThread;
    private final FillOutcome outcome = new FillOutcome("post-copy migration");
    private volatile boolean closed;
    private volatile boolean shutdown;
    private volatile Thread stopper;

    private RemoteRam(GuestMemory memory, long[][] here, Requester requester, Consumer<Throwable> stopGuest, MissingPageRegistration registration) {
        this.registration = registration;
        this.memory = memory;
        this.requester = requester;
        this.stopGuest = stopGuest;
        this.uffd = registration.uffd;
        this.stop = registration.stop;
        List<MemoryRange> ranges = memory.layout().ranges();
        if (here.length != ranges.size()) {
            throw new IllegalArgumentException(here.length + " bitmaps for " + ranges.size() + " RAM ranges");
        }
        have = new long[ranges.size()][];
        installing = new long[ranges.size()][];
        for (int i = 0; i < have.length; i++) {
            long pages = ranges.get(i).size() / PAGE;
            int words = (int) ((pages + 63) / 64);
            if (here[i].length != words) {
                throw new IllegalArgumentException("range " + i + ": a bitmap of " + here[i].length + " words for " + pages + " pages");
            }
            have[i] = here[i].clone();
            if (pages % 64 != 0) {
                have[i][words - 1] |= -1L << (pages % 64); // pages past the end are never missing
            }
            installing[i] = new long[words];
            for (long w : have[i]) {
                missing += Long.bitCount(~w);
            }
        }
        faultThread = new Thread(this::serveFaults, "stasis-postcopy-faults");
        faultThread.setDaemon(true);
    }

    /**
     * Registers all of {@code memory} with a new userfaultfd in missing mode and serves its faults: {@code here}
     * (per range, bit i of word i/64 for page i) marks the pages that need nothing from the other host, populated or
     * zero; the others are asked of {@code requester} when touched and must come through {@link #install}.
     * {@code stopGuest} is called once, from {@link #fail}, and must return once no vCPU runs (or it gave up
     * waiting). Throws {@link dev.stasis.uffd.UffdUnavailableException} naming what is missing.
     */
    public static RemoteRam start(GuestMemory memory, long[][] here, Requester requester, Consumer<Throwable> stopGuest) {
        return start(memory, here, requester, stopGuest, false);
    }

    /**
     * {@link #start}, but with {@code held} RAM stays registered, pages or not, until {@link #release}: for a
     * destination that takes pre-copy rounds through this ({@link #precopy}) before a switch to post-copy
     * ({@link #drop}) or the end of pre-copy.
     */
    public static RemoteRam start(GuestMemory memory, long[][] here, Requester requester, Consumer<Throwable> stopGuest, boolean held) {
        MissingPageRegistration fd = MissingPageRegistration.open(memory);
        RemoteRam ram;
        try {
            ram = new RemoteRam(memory, here, requester, stopGuest, fd);
            fd.registerAll();
        } catch (RuntimeException | Error e) {
            fd.close(); // closing unregisters
            throw e;
        }
        ram.held = held;
        memory.fillingFrom(ram);
        ram.faultThread.start();
        if (ram.missing == 0 && !held) {
            ram.finishing = true;
            ram.finish();
        }
        return ram;
    }

    /**
     * Installs the pages of a span of {@code span} pages at {@code gpa} whose bit is set in {@code sent}: those also
     * set in {@code zero} as zero pages, the others from {@code data}, their contents back to back in order. A page
     * already here (it came over another connection first) is skipped. Returns how many pages were new. The span
     * must lie in one RAM range (the protocol layer checked it).
     */
    public int install(long gpa, int span, long[] sent, long[] zero, Pointer data) {
        int slot = memory.layout().indexOf(gpa, (long) span * PAGE);
        if (slot < 0) {
            throw new IllegalArgumentException(String.format("span of %d pages at 0x%x is not inside guest RAM", span, gpa));
        }
        MemoryRange range = memory.layout().ranges().get(slot);
        long first = (gpa - range.gpa()) / PAGE;
        long[] claimed = new long[sent.length];
        synchronized (lock) {
            long[] h = have[slot];
            long[] busy = installing[slot];
            for (int w = 0; w < sent.length; w++) {
                for (long v = sent[w]; v != 0; v &= v - 1) {
                    int p = w * 64 + Long.numberOfTrailingZeros(v);
                    long index = first + p;
                    long bit = 1L << (index & 63);
                    int word = (int) (index >>> 6);
                    if (((h[word] | busy[word]) & bit) == 0) {
                        busy[word] |= bit;
                        claimed[w] |= 1L << p;
                    }
                }
            }
        }
        long host = Pointer.nativeValue(memory.mapping(slot).address()) + first * PAGE;
        try {
            copyRuns(host, span, sent, zero, claimed, data);
        } catch (RuntimeException e) {
            synchronized (lock) { // not in: a later install, or a fault's request, may bring them
                long[] busy = installing[slot];
                for (int w = 0; w < claimed.length; w++) {
                    for (long v = claimed[w]; v != 0; v &= v - 1) {
                        long index = first + w * 64 + Long.numberOfTrailingZeros(v);
                        busy[(int) (index >>> 6)] &= ~(1L << (index & 63));
                    }
                }
            }
            throw e;
        }
        int newPages = 0;
        for (long w : claimed) {
            newPages += Long.bitCount(w);
        }
        long now = System.nanoTime();
        boolean complete;
        synchronized (lock) {
            long[] h = have[slot];
            long[] busy = installing[slot];
            for (int w = 0; w < claimed.length; w++) {
                for (long v = claimed[w]; v != 0; v &= v - 1) {
                    int p = w * 64 + Long.numberOfTrailingZeros(v);
                    long index = first + p;
                    long bit = 1L << (index & 63);
                    int word = (int) (index >>> 6);
                    busy[word] &= ~bit;
                    h[word] |= bit;
                    Long asked = pending.remove(gpa + (long) p * PAGE);
                    if (asked != null) {
                        roundTrips++;
                        samples[sampleCount++ % MAX_SAMPLES] = now - asked;
                    }
                }
            }
            missing -= newPages;
            installed += newPages;
            complete = missing == 0 && !finishing && !held;
            finishing |= complete;
        }
        if (complete) {
            finish();
        }
        return newPages;
    }

    /**
     * A pre-copy round's span, before the guest runs (no vCPU, and one connection per span, as the protocol has it):
     * every page carried is put in place, new or sent before. A new page is installed; a page here already is
     * overwritten (a zero one is dropped: it then reads as zero through a fault). Returns the pages carried.
     */
    public int precopy(long gpa, int span, long[] sent, long[] zero, Pointer data) {
        int slot = memory.layout().indexOf(gpa, (long) span * PAGE);
        if (slot < 0) {
            throw new IllegalArgumentException(String.format("span of %d pages at 0x%x is not inside guest RAM", span, gpa));
        }
        MemoryRange range = memory.layout().ranges().get(slot);
        long first = (gpa - range.gpa()) / PAGE;
        long[] again = new long[sent.length];
        int carried = 0;
        synchronized (lock) {
            long[] h = have[slot];
            for (int w = 0; w < sent.length; w++) {
                carried += Long.bitCount(sent[w]);
                for (long v = sent[w]; v != 0; v &= v - 1) {
                    int p = w * 64 + Long.numberOfTrailingZeros(v);
                    long index = first + p;
                    if ((h[(int) (index >>> 6)] & 1L << (index & 63)) != 0) {
                        again[w] |= 1L << p;
                    }
                }
            }
        }
        // Pages sent before: overwritten in place (a zero one dropped, so it reads as zero through a fault).
        long host = Pointer.nativeValue(memory.mapping(slot).address()) + first * PAGE;
        long dataIndex = 0;
        for (int p = 0; p < span; p++) {
            long bit = 1L << p;
            if ((sent[p >>> 6] & bit) == 0) {
                continue;
            }
            boolean isZero = (zero[p >>> 6] & bit) != 0;
            if ((again[p >>> 6] & bit) != 0) {
                if (isZero) {
                    memory.mapping(slot).discard((first + p) * PAGE, PAGE);
                } else {
                    new Pointer(host + (long) p * PAGE).write(0, data.getByteArray(dataIndex * PAGE, PAGE), 0, PAGE);
                }
            }
            if (!isZero) {
                dataIndex++;
            }
        }
        install(gpa, span, sent, zero, data); // the new ones (it skips those here)
        return carried;
    }

    /**
     * The switch to post-copy: the pages of {@code stale} (per range) are dropped (the other host wrote them after
     * sending them) and missing again, so a touch asks for the current copy. Before the guest runs.
     */
    public void drop(long[][] stale) {
        synchronized (lock) {
            for (int slot = 0; slot < have.length; slot++) {
                long[] h = have[slot];
                for (int w = 0; w < h.length && w < stale[slot].length; w++) {
                    long gone = h[w] & stale[slot][w];
                    for (int p = 0; p < 64; ) {
                        if ((gone >>> p & 1) == 0) {
                            p++;
                            continue;
                        }
                        int q = p;
                        while (q < 64 && (gone >>> q & 1) != 0) {
                            q++;
                        }
                        memory.mapping(slot).discard(((long) w * 64 + p) * PAGE, (long) (q - p) * PAGE);
                        p = q;
                    }
                    h[w] &= ~gone;
                    missing += Long.bitCount(gone);
                }
            }
        }
    }

    /** Pre-copy is over (the switch, or its end): from here on RAM leaves userfaultfd once no page is missing. */
    public void release() {
        boolean complete;
        synchronized (lock) {
            held = false;
            complete = missing == 0 && !finishing;
            finishing |= complete;
        }
        if (complete) {
            finish();
        }
    }

    /**
     * Copies the claimed pages of a span in, in runs of one kind (UFFDIO_COPY for data, UFFDIO_ZEROPAGE for zero); the
     * data of the non-zero pages is packed, so every non-zero page sent counts, claimed or not.
     */
    private void copyRuns(long host, int span, long[] sent, long[] zero, long[] claimed, Pointer data) {
        int runStart = -1;
        boolean runZero = false;
        long runData = 0;
        long dataIndex = 0;
        for (int p = 0; p <= span; p++) {
            boolean isSent = p < span && (sent[p >>> 6] & 1L << p) != 0;
            boolean isClaimed = p < span && (claimed[p >>> 6] & 1L << p) != 0;
            boolean isZero = isSent && (zero[p >>> 6] & 1L << p) != 0;
            if (runStart >= 0 && (!isClaimed || isZero != runZero)) {
                long length = (long) (p - runStart) * PAGE;
                if (runZero) {
                    uffd.zeroPageWhereMissing(host + (long) runStart * PAGE, length);
                } else {
                    // EEXIST only for a page an install that failed half-way put in place: the same data
                    uffd.copyWhereMissing(host + (long) runStart * PAGE, data.share(runData * PAGE), length);
                }
                runStart = -1;
            }
            if (isClaimed && runStart < 0) {
                runStart = p;
                runZero = isZero;
                runData = dataIndex;
            }
            if (isSent && !isZero) {
                dataIndex++;
            }
        }
    }

    /** The pages not here yet, per range (what a new connection to the other host must bring). */
    public long[][] missingPages() {
        synchronized (lock) {
            long[][] out = new long[have.length][];
            List<MemoryRange> ranges = memory.layout().ranges();
            for (int i = 0; i < have.length; i++) {
                out[i] = new long[have[i].length];
                for (int w = 0; w < out[i].length; w++) {
                    out[i][w] = ~have[i][w];
                }
                long pages = ranges.get(i).size() / PAGE;
                if (pages % 64 != 0) {
                    out[i][out[i].length - 1] &= (1L << (pages % 64)) - 1;
                }
            }
            return out;
        }
    }

    /** The pages asked for and not yet installed (to ask again over a new connection). */
    public long[] pendingRequests() {
        synchronized (lock) {
            return pending.keySet().stream().mapToLong(Long::longValue).sorted().toArray();
        }
    }

    /** How many pages are still missing. */
    public long missingCount() {
        synchronized (lock) {
            return missing;
        }
    }

    public Stats stats() {
        synchronized (lock) {
            int n = (int) Math.min(sampleCount, MAX_SAMPLES);
            long[] s = Arrays.copyOf(samples, n);
            Arrays.sort(s);
            return new Stats(faults.get(), requests.get(), installed, roundTrips,
                    n == 0 ? -1 : s[n / 2], n == 0 ? -1 : s[Math.min(n - 1, (int) Math.ceil(n * 0.99) - 1)], n == 0 ? -1 : s[n - 1], resident.get());
        }
    }

    // ---- the fault thread ----

    private void serveFaults() {
        Memory buffer = Userfaultfd.messageBuffer(64);
        try {
            while (!shutdown && uffd.await(stop, -1)) {
                int n = uffd.read(buffer);
                for (int i = 0; i < n; i++) {
                    PageFault f = Userfaultfd.fault(buffer, i);
                    if (f == null) {
                        continue;
                    }
                    try {
                        serve(f.address() & -PAGE);
                    } catch (RuntimeException t) {
                        // That access stays blocked; the others are still served while the guest is being stopped,
                        // so a kicked vCPU waiting on a page that is here can leave KVM_RUN.
                        fail(t);
                    }
                }
            }
        } catch (Throwable t) {
            if (resident.get() < 0 && !closed) {
                fail(t);
            }
        } finally {
            Thread s = stopper;
            if (s != null && !closed) {
                UninterruptibleJoin.of(s); // never let accesses through (to zero pages) while the guest may still run
            }
            if (shutdown || closed || s != null) {
                uffd.close(); // lets every access still blocked through, to a guest that no longer runs
            }
        }
    }

    private void serve(long address) {
        faults.incrementAndGet();
        long gpa = memory.gpaOf(address);
        if (gpa < 0) {
            throw new IllegalStateException(String.format("a fault at host address 0x%x is outside guest RAM", address));
        }
        int slot = memory.layout().indexOf(gpa, PAGE);
        MemoryRange range = memory.layout().ranges().get(slot);
        long index = (gpa - range.gpa()) / PAGE;
        long bit = 1L << (index & 63);
        int word = (int) (index >>> 6);
        boolean here;
        boolean ask = false;
        synchronized (lock) {
            here = (have[slot][word] & bit) != 0;
            if (!here && (installing[slot][word] & bit) == 0) {
                ask = pending.putIfAbsent(gpa, System.nanoTime()) == null;
            }
        }
        if (here) {
            // Known zero and never mapped, or installed since the fault was taken (then EEXIST: only a wake).
            uffd.zeroPageWhereMissing(address, PAGE);
        } else if (ask) {
            requests.incrementAndGet();
            requester.request(gpa); // the toucher waits until install copies the page in, which wakes it
        }
    }

    /** No page is missing: RAM leaves userfaultfd (waking anyone still waiting). */
    private void finish() {
        synchronized (this) { // against fail(): a fill that completed is never failed after it, nor the other way round
            if (outcome.failure() != null) {
                return;
            }
            resident.set(System.nanoTime() - t0);
        }
        registration.unregisterAll();
        stop.signal();
        outcome.complete();
    }

    /**
     * The missing pages cannot come any more (the other host is gone for good): a thread of its own stops the
     * guest, then the waiting accesses are let through to zero pages in a guest that no longer runs. Once only;
     * {@link #awaitResident} fails from then on.
     */
    public void fail(Throwable cause) {
        synchronized (this) {
            if (closed || resident.get() >= 0 || !outcome.fail(cause)) {
                return;
            }
            Thread s = new Thread(() -> {
                try {
                    stopGuest.accept(cause);
                } finally {
                    shutdown = true;
                    stop.signal();
                    outcome.complete();
                }
            }, "stasis-postcopy-stop");
            s.setDaemon(true);
            stopper = s;
            s.start();
        }
    }

    // ---- RamFill ----

    @Override
    public void guestStarted() {
        // Pages come as the other host sends them; nothing to begin here.
    }

    @Override
    public boolean isDone() {
        return outcome.isDone();
    }

    @Override
    public void awaitResident() {
        outcome.await();
    }

    @Override
    public void whenDone(Runnable action) {
        outcome.whenDone(action);
    }

    @Override
    public Throwable failure() {
        return outcome.failure();
    }

    @Override
    public void close() {
        Thread s;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            if (resident.get() < 0) {
                outcome.fail(new IllegalStateException("the post-copy migration was closed before all memory was in"));
            }
            s = stopper;
        }
        if (s != null && s != Thread.currentThread()) {
            try {
                s.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        stop.signal();
        try {
            faultThread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        registration.close();
        outcome.complete();
    }
}
