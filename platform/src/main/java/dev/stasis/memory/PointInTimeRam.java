package dev.stasis.memory;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.stasis.os.EventFd;
import dev.stasis.os.UninterruptibleJoin;
import dev.stasis.snapshot.container.ZeroPage;
import dev.stasis.os.Errno;
import dev.stasis.uffd.PageFault;
import dev.stasis.uffd.UffdException;
import dev.stasis.uffd.UffdLayout;
import dev.stasis.uffd.Userfaultfd;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Guest RAM as it was at one instant, readable while the guest runs on: the memory engine of a live
 * snapshot (QEMU's background snapshot, {@code ram_write_tracking_start}, does the same with userfaultfd).
 *
 * <p>{@link #prepare} (guest running) opens a userfaultfd and registers all RAM in write-protect mode;
 * {@link #freeze} (vCPUs paused: the instant) write-protects every page that holds data. From then on a write
 * to a page the snapshot has not read faults; the fault thread copies the page aside while it is still as it
 * was, marks it copied, then un-protects it, and the writer thread goes on. {@link #window} gives the bytes of
 * the instant (the live page where it is still protected, the copy where the guest has written it since, zeros
 * where it was never populated); {@link #release} tells it the writer is done with a range, which frees its
 * copies and lets the guest write it without faults. {@link #close} un-protects everything, always: whatever
 * fails, the guest runs on.
 *
 * <p>Pages never populated at the instant are zero and never read. Knowing them needs /proc/self/pagemap,
 * which takes ~5 ms per GiB here: too long for the pause. So RAM is registered in missing mode too, and
 * {@link #prepare} reads pagemap while the guest runs: from the registration on, the first touch of a page
 * never populated faults as missing (the fault thread maps a zero page and counts the page as holding data),
 * so no page is populated behind pagemap's back, and the pause protects only populated RAM (a few entries with
 * huge pages). This needs no pte markers (UFFD_FEATURE_WP_UNPOPULATED, Linux 6.4): write-protect mode on
 * anonymous memory (Linux 5.7) is enough. A missing fault after the instant proves the page was not populated
 * at the instant: it is zero for the snapshot. Without a readable pagemap there is no live snapshot.
 *
 * <p>Java threads and faults: while this runs, a Java thread must touch guest RAM only through JNA calls
 * ({@link GuestMemory#read}, {@link GuestMemory#write}: the thread is "in native" while it faults), never
 * through a direct ByteBuffer over RAM a fault can stop (a write, or a read of an unpopulated page): a thread
 * stopped by a fault in Java code holds up every safepoint, and the fault thread, Java too, would wait at the
 * next one for ever. vCPU threads fault inside KVM_RUN (native); this class reads only populated pages through
 * buffers (reads of those never fault here).
 *
 * <p>What goes through userfaultfd, and what would not: guest writes fault in KVM's page fault handler, which
 * resolves the host page for writing (the vCPU thread sleeps in KVM_RUN until the fault is served; a pause kick
 * meanwhile waits for it). KVM's own writes to guest RAM (kvmclock's pvclock structure, steal time, PV EOI) go
 * through copy_to_user or a gfn-to-pfn cache that write-protection invalidates (an mmu notifier), so they fault
 * the same way: LiveSnapshotTest has KVM rewrite every vCPU's pvclock during the write (KVM_SET_CLOCK) and finds
 * the instant's bytes in the file; this is why the descriptor must not be user-mode only. (Restoring a file makes
 * KVM write the pvclock again: compare a file's bytes through the reader, not through a restored VM.) The VMM's
 * own writes through the mapping fault on their thread like any other (the fault thread itself never writes
 * guest RAM). What would bypass it: memory pinned for DMA before the instant (vhost, VFIO, O_DIRECT into guest
 * RAM) and shared mappings written by another process; stasis has none today, and a device that adds one must
 * write through a path that faults or tell this class.
 *
 * <p>Page states (one int per page): ZERO (zero at the instant), PROTECTED (the live page is the instant's),
 * COPIED (the copy is), RELEASED (the writer is done), DIRTIED (before the instant only: populated since
 * {@link #prepare}).
 */
public final class PointInTimeRam implements AutoCloseable {
    private static final int PAGE = PageCopies.PAGE;
    private static final int ZERO = 0, PROTECTED = 1, COPIED = 2, RELEASED = 3, DIRTIED = 4;
    /** Runs of protected pages closer than this are protected as one range (re-protecting a zero page is harmless). */
    private static final int MERGE_GAP_PAGES = 512;

    /** What the fault thread did: faults served, pages copied aside, the most copies held at once. */
    public record Stats(long faults, long copies, long peakCopies) {}

    private final GuestMemory memory;
    private final Userfaultfd uffd;
    private final List<MemoryRange> ranges;
    private final long[] hostBase;
    private final int[] firstPage;
    private final AtomicIntegerArray states;
    private final int[] slots;
    private final PageCopies copies = new PageCopies();
    private final Object freezeLock = new Object();
    private final List<Integer> dirtied = new ArrayList<>();
    private final EventFd stop = new EventFd();
    private final Thread server;
    private final AtomicLong faults = new AtomicLong();
    private final AtomicLong copied = new AtomicLong();
    private final ConcurrentHashMap<Thread, ByteBuffer[]> buffers = new ConcurrentHashMap<>();
    private volatile boolean frozen;
    /** The first fault that could not be served as it should; the snapshot fails with it, the guest does not. */
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private boolean closed;

    private PointInTimeRam(GuestMemory memory, Userfaultfd uffd) {
        this.memory = memory;
        this.uffd = uffd;
        this.ranges = memory.layout().ranges();
        this.hostBase = new long[ranges.size()];
        this.firstPage = new int[ranges.size() + 1];
        for (int i = 0; i < ranges.size(); i++) {
            hostBase[i] = Pointer.nativeValue(memory.mapping(i).address());
            firstPage[i + 1] = firstPage[i] + (int) (ranges.get(i).size() / PAGE);
        }
        this.states = new AtomicIntegerArray(firstPage[ranges.size()]);
        this.slots = new int[firstPage[ranges.size()]];
        this.server = new Thread(this::serve, "stasis-live-snapshot-faults");
        this.server.setDaemon(true);
    }

    /**
     * Opens userfaultfd, registers all of {@code memory} in missing and write-protect modes and reads which pages
     * are populated; the guest may run. Throws {@link dev.stasis.uffd.UffdUnavailableException} naming what is
     * missing.
     */
    public static PointInTimeRam prepare(GuestMemory memory) {
        MemoryRange first = memory.layout().ranges().get(0);
        if (memory.backing() != RamBacking.ZERO) {
            throw new dev.stasis.uffd.UffdUnavailableException("guest RAM is mapped from a shared image, so a page never written reads as the image's,"
                    + " not as zero, and which pages hold data cannot be told");
        }
        if (memory.populatedPages(first.gpa(), PAGE) == null) {
            throw new dev.stasis.uffd.UffdUnavailableException("/proc/self/pagemap cannot be read, so pages never populated cannot be told from the others");
        }
        Userfaultfd uffd = Userfaultfd.open(UffdLayout.UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0);
        PointInTimeRam ram;
        try {
            ram = new PointInTimeRam(memory, uffd);
        } catch (RuntimeException e) {
            uffd.close();
            throw e;
        }
        try {
            for (int i = 0; i < ram.ranges.size(); i++) {
                uffd.register(ram.hostBase[i], ram.ranges.get(i).size(),
                        UffdLayout.UFFDIO_REGISTER_MODE_MISSING | UffdLayout.UFFDIO_REGISTER_MODE_WP);
            }
            ram.server.start();
            ram.classify(); // after the registration, so every page populated from here on faults first
            return ram;
        } catch (RuntimeException e) {
            ram.close();
            throw e;
        }
    }

    /**
     * The instant: the vCPUs must be paused (no guest write may be in flight). Write-protects every page that
     * holds data; from here on {@link #window} answers with these bytes.
     */
    public void freeze() {
        int[] late;
        synchronized (freezeLock) {
            // From the list, not the states: classify() may have set ZERO over a page populated during its read.
            late = dirtied.stream().mapToInt(Integer::intValue).sorted().toArray();
            for (int page : late) {
                states.set(page, PROTECTED);
            }
            dirtied.clear();
            frozen = true;
        }
        // The runs were found before the pause; only pages populated since are added here (no walk over all RAM).
        for (Run r : populatedRuns) {
            protect(r);
        }
        for (Run r : runs(late)) {
            protect(r);
        }
    }

    /** Pages {@code [from, to)} of range {@code range} (page numbers are global). */
    private record Run(int range, int from, int to) {}

    /** The runs populated at {@link #classify}, to be protected at the instant. */
    private List<Run> populatedRuns = List.of();

    /** Reads pagemap: populated pages are PROTECTED (to be protected at the instant), the others ZERO. */
    private void classify() {
        for (int i = 0; i < ranges.size(); i++) {
            MemoryRange r = ranges.get(i);
            long[] populated = memory.populatedPages(r.gpa(), r.size());
            if (populated == null) {
                throw new IllegalStateException("reading /proc/self/pagemap failed: which guest pages hold data is unknown");
            }
            int pages = firstPage[i + 1] - firstPage[i];
            for (int p = 0; p < pages; p++) {
                boolean data = (populated[p >>> 6] & 1L << p) != 0;
                states.set(firstPage[i] + p, data ? PROTECTED : ZERO);
            }
        }
        int[] data = java.util.stream.IntStream.range(0, states.length()).filter(p -> states.get(p) == PROTECTED).toArray();
        populatedRuns = runs(data);
    }

    /**
     * {@code pages} (sorted global page numbers) as runs within a range, runs closer than {@link #MERGE_GAP_PAGES}
     * as one: the pages in a gap are ZERO, unpopulated (every page populated since {@link #classify} is listed as
     * dirtied), which write-protection leaves alone and the writer never reads.
     */
    private List<Run> runs(int[] pages) {
        List<Run> runs = new ArrayList<>();
        int start = -1;
        int end = -1;
        int range = -1;
        for (int p : pages) {
            int r = rangeOfPage(p);
            if (start >= 0 && (r != range || p - end > MERGE_GAP_PAGES)) {
                runs.add(new Run(range, start, end));
                start = -1;
            }
            if (start < 0) {
                start = p;
                range = r;
            }
            end = p + 1;
        }
        if (start >= 0) {
            runs.add(new Run(range, start, end));
        }
        return runs;
    }

    private int rangeOfPage(int page) {
        int r = 0;
        while (page >= firstPage[r + 1]) {
            r++;
        }
        return r;
    }

    private void protect(Run r) {
        uffd.writeProtect(host(r.range(), r.from()), (long) (r.to() - r.from()) * PAGE, true);
    }

    private long host(int range, int page) {
        return hostBase[range] + (long) (page - firstPage[range]) * PAGE;
    }

    /** The fault thread: serves write-protect and missing faults until {@link #close}. */
    private void serve() {
        Memory buffer = Userfaultfd.messageBuffer(64);
        while (true) {
            int n;
            try {
                if (!uffd.await(stop, -1)) {
                    return; // stop signalled
                }
                n = uffd.read(buffer);
            } catch (RuntimeException e) {
                fail(e); // and go on serving: a fault left unserved would stop the guest
                continue;
            }
            for (int i = 0; i < n; i++) {
                PageFault f = Userfaultfd.fault(buffer, i);
                if (f != null && f.writeProtect()) {
                    serve(f.address() & -PAGE);
                } else if (f != null) {
                    populate(f.address() & -PAGE);
                }
            }
        }
    }

    /**
     * A first touch of a page not populated: before the instant it now holds data; after it, it was zero at the
     * instant (nothing unpopulates guest RAM). Resolved by mapping the zero page, which wakes the toucher (a write
     * then populates its own page as usual).
     */
    private void populate(long address) {
        faults.incrementAndGet();
        try {
            int range = rangeOf(address);
            int page = firstPage[range] + (int) ((address - hostBase[range]) / PAGE);
            synchronized (freezeLock) {
                if (!frozen) {
                    if (states.getAndSet(page, DIRTIED) != DIRTIED) {
                        dirtied.add(page);
                    }
                } else {
                    states.compareAndSet(page, PROTECTED, ZERO);
                }
            }
        } catch (Throwable t) {
            fail(t);
        } finally {
            try {
                uffd.zeroPage(address, PAGE);
            } catch (UffdException e) {
                if (e.errno() != Errno.EEXIST) { // populated meanwhile (another fault on the page): only wake
                    fail(e);
                }
                uffd.wake(address, PAGE);
            } catch (RuntimeException e) {
                fail(e);
                uffd.wake(address, PAGE);
            }
        }
    }

    /**
     * One fault: the page is copied first if the snapshot still needs it as it is, then un-protected, which
     * wakes the writer. The un-protect happens whatever failed before it: a snapshot may fail, the guest may not.
     */
    private void serve(long address) {
        faults.incrementAndGet();
        try {
            int range = rangeOf(address);
            int page = firstPage[range] + (int) ((address - hostBase[range]) / PAGE);
            if (frozen && states.get(page) == PROTECTED) {
                ByteBuffer live = memory.mapping(range).address().getByteBuffer(address - hostBase[range], PAGE);
                int slot = copies.copyOf(live);
                slots[page] = slot; // published by the compareAndSet
                if (states.compareAndSet(page, PROTECTED, COPIED)) {
                    copied.incrementAndGet();
                } else {
                    copies.free(slot); // released meanwhile: the writer no longer needs it
                }
            }
        } catch (Throwable t) {
            fail(t);
        } finally {
            try {
                uffd.writeProtect(address, PAGE, false);
            } catch (RuntimeException e) {
                fail(e);
            }
        }
    }

    private int rangeOf(long address) {
        for (int i = 0; i < ranges.size(); i++) {
            if (address >= hostBase[i] && address - hostBase[i] < ranges.get(i).size()) {
                return i;
            }
        }
        throw new IllegalStateException(String.format("userfaultfd fault at host address 0x%x outside guest RAM", address));
    }

    private void fail(Throwable t) {
        failure.compareAndSet(null, t);
    }

    /** Throws if a fault could not be served as it should: the instant's bytes of some page are lost. */
    private void checkFailure() {
        Throwable t = failure.get();
        if (t != null) {
            throw new IllegalStateException("the live snapshot lost a page the guest wrote: " + t, t);
        }
    }

    /** True when every page of {@code [gpa, gpa + length)} was zero at the instant. */
    public boolean knownZero(long gpa, long length) {
        int from = page(gpa);
        for (int p = from, to = from + (int) (length / PAGE); p < to; p++) {
            if (states.get(p) != ZERO) {
                return false;
            }
        }
        return true;
    }

    /**
     * The bytes of {@code [gpa, gpa + length)} (page-aligned, in one range) at the instant, in a buffer of this
     * view, valid until the same thread asks for its next window of the same kind (longer than a page, or one
     * page): a chunk and one page of it at a time is what the snapshot writer holds.
     */
    public ByteBuffer window(long gpa, int length) {
        if (!frozen) {
            throw new IllegalStateException("window before freeze");
        }
        checkFailure();
        ByteBuffer out = buffer(length);
        ByteBuffer live = memory.buffer(gpa, length);
        int from = page(gpa);
        int pages = length / PAGE;
        // Pass 1: the live bytes of every page with data, zeros for the others (never read: they may be new).
        int run = -1;
        for (int i = 0; i <= pages; i++) {
            int s = i < pages ? state(from + i, gpa) : ZERO;
            if (s != ZERO && run < 0) {
                run = i;
            } else if (s == ZERO) {
                if (run >= 0) {
                    out.put(run * PAGE, live, run * PAGE, (i - run) * PAGE);
                    run = -1;
                }
                if (i < pages) {
                    out.put(i * PAGE, ZeroPage.view(), 0, PAGE);
                }
            }
        }
        // Pass 2, after the copy: a page still PROTECTED now was protected all through it (the fault thread marks
        // a page COPIED before it un-protects it), so its live bytes are the instant's; a COPIED one takes its copy.
        VarHandle.fullFence();
        for (int i = 0; i < pages; i++) {
            int s = state(from + i, gpa);
            if (s == COPIED) {
                copies.read(slots[from + i], out, i * PAGE);
            }
        }
        checkFailure();
        return out.position(0).limit(length);
    }

    private int state(int page, long gpa) {
        int s = states.get(page);
        if (s == RELEASED) {
            throw new IllegalStateException(String.format("guest page 0x%x read after the writer released it", gpa));
        }
        return s;
    }

    private ByteBuffer buffer(int length) {
        ByteBuffer[] mine = buffers.computeIfAbsent(Thread.currentThread(), t -> new ByteBuffer[2]);
        int kind = length > PAGE ? 0 : 1;
        if (mine[kind] == null || mine[kind].capacity() < length) {
            mine[kind] = ByteBuffer.allocateDirect(Math.max(length, PAGE)).order(ByteOrder.LITTLE_ENDIAN);
        }
        return mine[kind].clear();
    }

    /** The writer is done with {@code [gpa, gpa + length)}: its copies are freed and the guest writes it freely. */
    public void release(long gpa, long length) {
        int from = page(gpa);
        for (int p = from, to = from + (int) (length / PAGE); p < to; p++) {
            if (states.getAndSet(p, RELEASED) == COPIED) {
                copies.free(slots[p]);
            }
        }
        uffd.writeProtect(Pointer.nativeValue(memory.pointer(gpa, length)), length, false);
    }

    private int page(long gpa) {
        for (int i = 0; i < ranges.size(); i++) {
            MemoryRange r = ranges.get(i);
            if (gpa >= r.gpa() && gpa < r.gpa() + r.size()) {
                return firstPage[i] + (int) ((gpa - r.gpa()) / PAGE);
            }
        }
        throw new GuestMemoryAccessException(gpa, PAGE);
    }

    public Stats stats() {
        return new Stats(faults.get(), copied.get(), copies.peak());
    }

    /**
     * Un-protects all RAM (waking any thread still waiting on a fault), unregisters it and stops the fault
     * thread. Closing the descriptor alone would wake waiters too; the explicit steps keep the order clear.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = 0; i < ranges.size(); i++) {
            try {
                uffd.writeProtect(hostBase[i], ranges.get(i).size(), false);
                uffd.unregister(hostBase[i], ranges.get(i).size());
            } catch (RuntimeException e) {
                fail(e); // closing the descriptor below still lets every access through
            }
        }
        stop.signal();
        // Never closed under the fault thread: a writer interrupted mid-write lands here, and waits all the same.
        UninterruptibleJoin.of(server);
        uffd.close();
        stop.close();
        buffers.clear();
    }
}
