package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.RestoreMode;
import dev.stasis.fixtures.Ballast;
import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.memory.LazyRam;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest restored lazily, most of its pages not yet in (fetched on fault only), is migrated: the sender waits for
 * every page, so the destination holds the file's pages (8 MiB of host-written ballast the guest never touches),
 * not zeros, and the guest goes on there.
 */
@RequiresKvm
class LazyRestoredMigrationTest {
    static final long BALLAST = 40L << 20;
    static final int BALLAST_PAGES = 2048;

    @TempDir
    Path dir;

    @Test
    void aLazilyRestoredGuestMigratesWithEveryPage() throws Exception {
        Path file = dir.resolve("dirtier.stasis");
        try (RunningGuest a = RunningGuest.start("dirtier", 1, Map.of("pages", "2048", "report", "5"))) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 10, 0, Duration.ofSeconds(60)), a.output());
            a.machine().vm().pauseAll();
            Ballast.write(a.machine().memory(), BALLAST, BALLAST_PAGES);
            Checkpoint.save(a.machine(), file, WriterOptions.defaults());
        }
        try (RunningGuest b = RunningGuest.fromSnapshot(file, RestoreMode.LAZY.onFaultOnly());
             Loopback dest = new Loopback()) {
            assertNotNull(b.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 15, 0, Duration.ofSeconds(60)), b.output());
            LazyRam ram = b.machine().memory().lazyRestore();
            assertNotNull(ram, b.machine().notes().toString());
            assertFalse(ram.isDone(), "the ballast is not in before the migration: " + ram.stats());
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
            MigrationSender.migrate(b.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY), l -> { });
            assertEquals(VmExit.Kind.MIGRATED, b.machine().vm().awaitExit(5000).kind());
            assertTrue(ram.isDone());
            int before = Loopback.lastRound(b, GuestLines.DIRTIER_OK);
            try (Machine c = incoming.get(10, TimeUnit.SECONDS)) {
                assertEquals(-1, Ballast.firstDifference(c.memory(), BALLAST, BALLAST_PAGES), "the first ballast page the destination lacks");
                Loopback.awaitDirtierRound(console, before + 10, "after migrating a lazily restored guest");
            }
        }
    }
}
