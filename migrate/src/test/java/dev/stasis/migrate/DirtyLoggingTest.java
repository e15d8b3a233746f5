package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.KvmException;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.migrate.precopy.DirtyLog;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.os.Errno;
import dev.stasis.vm.Vm;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * KVM's dirty log is off (slots without KVM_MEM_LOG_DIRTY_PAGES, so hardware KVM may map them with large
 * pages) except while a migration runs, and a migration turns it off again whether it succeeds or gives up.
 */
@RequiresKvm
class DirtyLoggingTest {
    private static void assertNoLog(Vm vm) {
        assertFalse(vm.isDirtyLogging());
        KvmException e = assertThrows(KvmException.class, () -> new DirtyLog(vm).collect(), "a slot without logging has no log");
        assertEquals(Errno.ENOENT, e.errno(), e.getMessage());
    }

    @Test
    void theLogIsOnOnlyWhileAMigrationRuns() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, Map.of("pages", "64", "report", "20"))) {
            Vm vm = a.machine().vm();
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            assertNoLog(vm);

            vm.setDirtyLogging(true);
            DirtyLog log = new DirtyLog(vm);
            log.collect();
            int round = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round + 2, 0, Duration.ofSeconds(10)), a.output());
            assertTrue(DirtyLog.count(log.collect()) >= 64, "dirtier's pages show in the log once it is on");
            vm.setDirtyLogging(false);
            assertNoLog(vm);

            // A migration that gives up (here: past its time limit at once) leaves the log off.
            AtomicInteger loggedRounds = new AtomicInteger();
            try (Loopback dest = new Loopback()) {
                var refused = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
                var e = assertThrows(MigrationException.class, () -> MigrationSender.migrate(a.machine(), dest.address,
                        InProcessMigrationTest.options().withLimits(Duration.ZERO, Duration.ofNanos(1), 0), l -> { }));
                assertEquals(MigrationException.Kind.TIMEOUT, e.kind(), e.getMessage());
                assertThrows(ExecutionException.class, () -> refused.get(20, TimeUnit.SECONDS));
                assertNoLog(vm);

                // One that succeeds has it on for its rounds and off once done.
                var incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
                MigrationSender.migrate(a.machine(), dest.address, InProcessMigrationTest.options().withHook((sent, type, index) -> {
                    if (sent && type == MessageType.ROUND && vm.isDirtyLogging()) {
                        loggedRounds.incrementAndGet();
                    }
                }), l -> { });
                incoming.get(20, TimeUnit.SECONDS).close();
            }
            assertTrue(loggedRounds.get() >= 1, "pre-copy ran with the log on");
            assertFalse(vm.isDirtyLogging());
        }
    }

    @Test
    void pagesTheVmmWritesAreInTheRoundsToo() throws Exception {
        try (RunningGuest a = RunningGuest.start("idle", 1, Map.of())) {
            Vm vm = a.machine().vm();
            vm.setDirtyLogging(true);
            try {
                DirtyLog log = new DirtyLog(vm);
                log.collect();
                long page = 3000; // 12 MiB in: RAM the idle guest never writes
                vm.memory().write(page * 4096 + 17, new byte[] {42}, 0, 1); // as a device's DMA would
                long[][] round = log.collect();
                assertTrue((round[0][(int) (page / 64)] & (1L << (page % 64))) != 0, "the VMM's write is in the next round");
                long[][] next = log.collect();
                assertEquals(0, next[0][(int) (page / 64)] & (1L << (page % 64)), "and only in that one");
            } finally {
                vm.setDirtyLogging(false);
            }
            vm.memory().write(3001L * 4096, new byte[] {1}, 0, 1);
            vm.setDirtyLogging(true);
            try {
                assertEquals(0, new DirtyLog(vm).collect()[0][(int) (3001 / 64)] & (1L << (3001 % 64)),
                        "a write made while nothing tracked is not reported when tracking starts");
            } finally {
                vm.setDirtyLogging(false);
            }
        }
    }
}
