package dev.stasis.uffd;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.stasis.os.Errno;
import dev.stasis.os.EventFd;
import dev.stasis.os.Mapping;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The userfaultfd binding on real memory (no KVM): a write to a write-protected page waits until it is
 * un-protected, a read of a missing page until it is filled, each fault reported with its address and kind.
 * Fails, naming the fix, where userfaultfd cannot be opened: live snapshots need it.
 */
class UserfaultfdTest {
    private static final int PAGE = 4096;

    @BeforeAll
    static void needsUserfaultfd() {
        String cause = Userfaultfd.unavailabilityCause();
        assertNull(cause, "live snapshots need userfaultfd: " + cause);
    }

    @Test
    void aWriteToAProtectedPageWaitsForTheHandlerAndIsReportedAsAWriteProtectFault() throws Exception {
        try (Mapping m = Mapping.anonymous(4 * PAGE);
                Userfaultfd u = Userfaultfd.open(UffdLayout.UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0);
                EventFd stop = new EventFd()) {
            long base = Pointer.nativeValue(m.address());
            m.address().setLong(PAGE, 7); // populated: protectable on any kernel
            u.register(base, 4 * PAGE, UffdLayout.UFFDIO_REGISTER_MODE_WP);
            u.writeProtect(base, 4 * PAGE, true);
            CompletableFuture<Void> writer = CompletableFuture.runAsync(() -> m.address().setLong(PAGE + 8, 42));
            assertTrue(u.await(stop, 5000), "no fault reported for the write");
            Memory buffer = Userfaultfd.messageBuffer(8);
            int n = u.read(buffer);
            assertEquals(1, n);
            PageFault f = Userfaultfd.fault(buffer, 0);
            assertEquals(new PageFault(base + PAGE, true, true), f);
            assertFalse(writer.isDone(), "the write went through a protected page");
            assertEquals(7, m.address().getLong(PAGE), "reads go through while protected");
            u.writeProtect(base + PAGE, PAGE, false); // wakes the writer
            writer.get(5, TimeUnit.SECONDS);
            assertEquals(42, m.address().getLong(PAGE + 8));
            u.unregister(base, 4 * PAGE);
        }
    }

    @Test
    void aReadOfAMissingPageWaitsUntilItIsCopiedIn() throws Exception {
        try (Mapping m = Mapping.anonymous(2 * PAGE);
                Userfaultfd u = Userfaultfd.open(0, 0);
                EventFd stop = new EventFd();
                Memory source = new Memory(PAGE)) {
            long base = Pointer.nativeValue(m.address());
            u.register(base, 2 * PAGE, UffdLayout.UFFDIO_REGISTER_MODE_MISSING);
            source.clear();
            source.setLong(16, 0x5354415349530aL);
            CompletableFuture<Long> reader = CompletableFuture.supplyAsync(() -> m.address().getLong(PAGE + 16));
            assertTrue(u.await(stop, 5000), "no fault reported for the read");
            Memory buffer = Userfaultfd.messageBuffer(4);
            assertEquals(1, u.read(buffer));
            assertEquals(new PageFault(base + PAGE, false, false), Userfaultfd.fault(buffer, 0));
            u.copy(base + PAGE, source, PAGE);
            assertEquals(0x5354415349530aL, reader.get(5, TimeUnit.SECONDS));
            CompletableFuture<Long> zero = CompletableFuture.supplyAsync(() -> m.address().getLong(8));
            assertTrue(u.await(stop, 5000));
            assertEquals(1, u.read(buffer));
            u.zeroPage(base, PAGE);
            assertEquals(0, zero.get(5, TimeUnit.SECONDS));
        }
    }

    /**
     * UFFDIO_MOVE (Linux 6.8): a 2 MiB run written elsewhere, huge-page aligned, moved into missing RAM wakes the reader
     * waiting there, leaves holes behind it, and a hole in a source leaves its page missing (its read faults here).
     */
    @Test
    void pagesMovedInWakeTheReaderAndLeaveHolesBehind() throws Exception {
        long huge = 2L << 20;
        try (Mapping ram = Mapping.anonymous(2 * huge);
                Mapping area = Mapping.anonymous(2 * huge);
                Userfaultfd u = Userfaultfd.open(0, UffdLayout.UFFD_FEATURE_MOVE);
                EventFd stop = new EventFd()) {
            assumeTrue(u.moves(), "UFFDIO_MOVE came with Linux 6.8; this kernel is " + System.getProperty("os.version"));
            area.adviseHugePages();
            long dst = (Pointer.nativeValue(ram.address()) + huge - 1) & -huge;
            Pointer src = new Pointer((Pointer.nativeValue(area.address()) + huge - 1) & -huge);
            u.register(Pointer.nativeValue(ram.address()), 2 * huge, UffdLayout.UFFDIO_REGISTER_MODE_MISSING);
            for (long off = 0; off < huge; off += PAGE) {
                src.setLong(off, 0x1000_0000L + off);
            }
            CompletableFuture<Long> reader = CompletableFuture.supplyAsync(() -> new Pointer(dst).getLong(5 * PAGE));
            assertTrue(u.await(stop, 5000), "no fault reported for the read");
            Memory buffer = Userfaultfd.messageBuffer(4);
            assertEquals(1, u.read(buffer));
            u.move(dst, Pointer.nativeValue(src), huge);
            assertEquals(0x1000_0000L + 5 * PAGE, reader.get(5, TimeUnit.SECONDS));
            assertEquals(0x1000_0000L + huge - PAGE, new Pointer(dst).getLong(huge - PAGE));
            assertEquals(0, src.getLong(5 * PAGE), "a page moved out reads as a hole");

            long next = dst + huge; // the second 2 MiB: a source of one page written, the rest holes
            try (Mapping small = Mapping.anonymous(16 * PAGE)) { // too small for a huge page: its holes stay holes
                small.address().setLong(3 * PAGE, 77);
                u.move(next, Pointer.nativeValue(small.address()), 16 * PAGE);
            }
            assertEquals(77, new Pointer(next).getLong(3 * PAGE));
            CompletableFuture<Long> hole = CompletableFuture.supplyAsync(() -> new Pointer(next).getLong(9 * PAGE));
            assertTrue(u.await(stop, 5000), "a page whose source was a hole is still missing");
            assertEquals(1, u.read(buffer));
            assertEquals(next + 9 * PAGE, Userfaultfd.fault(buffer, 0).address() & -PAGE);
            u.zeroPage(next + 9 * PAGE, PAGE);
            assertEquals(0, hole.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void aSignalledStopEndsTheWaitAndNothingIsRead() throws Exception {
        try (Userfaultfd u = Userfaultfd.open(0, 0); EventFd stop = new EventFd()) {
            assertFalse(u.await(stop, 0));
            stop.signal();
            assertFalse(u.await(stop, 5000));
            assertEquals(0, u.read(Userfaultfd.messageBuffer(1)));
        }
    }

    @Test
    void failuresNameTheIoctlTheErrnoAndTheRange() {
        try (Userfaultfd u = Userfaultfd.open(UffdLayout.UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0)) {
            UffdException e = assertThrows(UffdException.class, () -> u.register(0x1001, PAGE, UffdLayout.UFFDIO_REGISTER_MODE_WP));
            assertEquals(Errno.EINVAL, e.errno());
            assertTrue(e.getMessage().startsWith("UFFDIO_REGISTER failed: EINVAL") && e.getMessage().contains("0x1001+0x1000"), e.getMessage());
            u.close();
            UffdException closed = assertThrows(UffdException.class, () -> u.writeProtect(0, PAGE, true));
            assertEquals(Errno.EBADF, closed.errno());
        }
    }

    @Test
    void aFeatureTheKernelLacksIsRefusedByName() {
        UffdUnavailableException e = assertThrows(UffdUnavailableException.class, () -> Userfaultfd.open(1L << 62, 0));
        assertEquals("this kernel's userfaultfd lacks features 0x4000000000000000", e.getMessage());
    }
}
