package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.fixtures.BlkcheckDisk;
import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.Guests;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guests with disks migrated in the middle of blkcheck's write storm, the guest going on at the destination with
 * every block it saw written. On storage both ends share (here: the same file) the source lets go of the image only
 * in the pause, flushed; the destination opens it only then and checks a sample of its blocks against the source's; a
 * destination that cannot take the disk refuses, and the source takes its disk back and runs on. With
 * {@code --copy-disks} the blocks go with the pre-copy to a new file, rounds resending what the guest rewrote.
 */
@RequiresKvm
class DiskMigrationTest {
    static final int BLOCKS = 64;
    static final Duration ROUND = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    Path disk() throws IOException {
        return BlkcheckDisk.create(dir.resolve("shared.img"), BLOCKS);
    }

    static RunningGuest boot(Path disk) throws IOException {
        return BlkcheckDisk.boot(disk, "shared");
    }

    static int lastRound(String console) {
        return BlkcheckDisk.lastRound(console);
    }

    @Test
    void theGuestMovesWithItsDiskMidWriteAndLosesNoBlock() throws Exception {
        Path disk = disk();
        try (RunningGuest a = boot(disk); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            Thread.sleep(ThreadLocalRandom.current().nextInt(50, 400)); // somewhere in a write or read pass
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withDiskPaths(java.util.Map.of("shared", disk)));
            MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY), l -> { });
            assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
            int before = lastRound(a.output());
            try (Machine b = incoming.get(20, TimeUnit.SECONDS)) {
                assertEquals(1, b.disks().size());
                awaitRound(console, before + 2);
                b.vm().pauseAll();
                assertNull(BlkcheckDisk.check(disk, BLOCKS, lastRound(console.toString(StandardCharsets.ISO_8859_1))), "the image at the destination");
            }
        }
    }

    /** Waits for blkcheck at a destination to pass round {@code target}; asserts no FAIL; returns the console. */
    static String awaitRound(ByteArrayOutputStream console, int target) throws InterruptedException {
        long deadline = System.nanoTime() + ROUND.toNanos();
        String out;
        do {
            Thread.sleep(100);
            out = console.toString(StandardCharsets.ISO_8859_1);
        } while (lastRound(out) < target && !out.contains("FAIL") && System.nanoTime() < deadline);
        assertFalse(out.contains("FAIL"), out);
        assertTrue(lastRound(out) >= target, "blkcheck reaches round " + target + " at the destination:\n" + out);
        return out;
    }

    @Test
    void withCopyDisksTheBlocksGoToANewFileAndTheGuestLosesNone() throws Exception {
        Path disk = disk();
        Path copy = dir.resolve("copy.img");
        try (RunningGuest a = boot(disk); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            Thread.sleep(ThreadLocalRandom.current().nextInt(50, 400)); // somewhere in a write or read pass
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            List<String> received = new java.util.concurrent.CopyOnWriteArrayList<>();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withDiskPaths(java.util.Map.of("shared", copy)), received::add);
            List<String> sent = new java.util.concurrent.CopyOnWriteArrayList<>();
            // Three connections: the disk's spans go on all of them, as RAM's do.
            MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY).withConnections(3).withCopyDisks(true), sent::add);
            assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
            int before = lastRound(a.output());
            assertTrue(sent.stream().anyMatch(l -> l.matches("round 1: .*, \\d+ disk blocks in .*")), String.join("\n", sent));
            try (Machine b = incoming.get(20, TimeUnit.SECONDS)) {
                assertEquals(copy, b.disks().get(0).image().path());
                assertTrue(received.contains("disk shared: " + copy + " copied"), String.join("\n", received));
                awaitRound(console, before + 2);
                b.vm().pauseAll();
                assertNull(BlkcheckDisk.check(copy, BLOCKS, lastRound(console.toString(StandardCharsets.ISO_8859_1))), "the copy at the destination");
            }
            assertNull(BlkcheckDisk.check(disk, BLOCKS, before), "the source's image, as it left it");
        }
    }

    /** The destination opens only what its operator named: a disk it was not told of is refused, whatever path the source says. */
    @Test
    void aDiskTheDestinationWasNotToldOfIsRefusedAndTheSourceRunsOn() throws Exception {
        Path disk = disk();
        try (RunningGuest a = boot(disk); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            for (boolean copy : new boolean[] {false, true}) {
                var incoming = dest.receive(java.io.OutputStream.nullOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
                MigrationException e = assertThrows(MigrationException.class, () -> MigrationSender.migrate(a.machine(), dest.address,
                        MigrationSender.Options.of(InProcessMigrationTest.KEY).withCopyDisks(copy), l -> { }));
                assertTrue(e.getMessage().contains("--disk shared=PATH") && e.getMessage().contains("the guest keeps running on the source"), e.getMessage());
                assertThrows(Exception.class, () -> incoming.get(10, TimeUnit.SECONDS));
            }
            int before = lastRound(a.output());
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> Integer.parseInt(m.group(1)) >= before + 1, 0, ROUND), a.output());
            assertFalse(a.output().contains("FAIL"), a.output());
            // ... and a post-copy at once cannot copy a disk (it has no pre-copy to do it in).
            MigrationException atOnce = assertThrows(MigrationException.class, () -> MigrationSender.migrate(a.machine(), dest.address,
                    MigrationSender.Options.of(InProcessMigrationTest.KEY).withCopyDisks(true).withPostcopy(0, Duration.ofSeconds(5)), l -> { }));
            assertTrue(atOnce.getMessage().contains("use --postcopy-after N"), atOnce.getMessage());
        }
    }

    @Test
    void aCopyIsNeverWrittenOverAnExistingFile() throws Exception {
        Path disk = disk();
        Path taken = dir.resolve("taken.img");
        java.nio.file.Files.write(taken, new byte[] {42});
        try (RunningGuest a = boot(disk); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            var incoming = dest.receive(java.io.OutputStream.nullOutputStream(),
                    MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withDiskPaths(java.util.Map.of("shared", taken)));
            MigrationException e = assertThrows(MigrationException.class, () -> MigrationSender.migrate(a.machine(), dest.address,
                    MigrationSender.Options.of(InProcessMigrationTest.KEY).withCopyDisks(true), l -> { }));
            assertTrue(e.getMessage().contains(taken + " exists; a copied disk goes to a new file"), e.getMessage());
            assertThrows(Exception.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertArrayEquals(new byte[] {42}, java.nio.file.Files.readAllBytes(taken), "left as it was");
            int before = lastRound(a.output());
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> Integer.parseInt(m.group(1)) >= before + 1, 0, ROUND), a.output());
        }
    }

    @Test
    void aGuestOnAPrivateOverlayIsRefusedByNameAndRunsOn() throws Exception {
        Path disk = disk();
        Path file = dir.resolve("with-disks.stasis");
        try (RunningGuest a = boot(disk)) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            a.machine().vm().pauseAll();
            dev.stasis.checkpoint.Checkpoint.save(a.machine(), file, dev.stasis.snapshot.container.WriterOptions.defaults(), bytes -> { }, true);
        }
        // Restored without --disk: the guest runs on a copy-on-write overlay over the file's disk content.
        try (RunningGuest b = RunningGuest.fromSnapshot(file, dev.stasis.checkpoint.RestoreMode.EAGER, dev.stasis.checkpoint.DiskRestore.AS_SAVED, m -> { });
             Loopback dest = new Loopback()) {
            int before = lastRound(b.output());
            MigrationException e = assertThrows(MigrationException.class,
                    () -> MigrationSender.migrate(b.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY), l -> { }));
            assertTrue(e.getMessage().contains("disk shared runs on a private copy-on-write overlay") && e.getMessage().contains("--copy-disks"), e.getMessage());
            assertNotNull(b.await(GuestLines.BLKCHECK_OK, m -> Integer.parseInt(m.group(1)) >= before + 1, 0, ROUND), b.output());
            assertFalse(b.output().contains("FAIL"), b.output());
            // ... and moves with --copy-disks, the overlay's blocks (its own and the file's) copied to a new file.
            Path copy = dir.resolve("from-overlay.img");
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withDiskPaths(java.util.Map.of("shared", copy)));
            MigrationSender.migrate(b.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY).withCopyDisks(true), l -> { });
            int moved = lastRound(b.output());
            try (Machine c = incoming.get(20, TimeUnit.SECONDS)) {
                awaitRound(console, moved + 2);
                c.vm().pauseAll();
                assertNull(BlkcheckDisk.check(copy, BLOCKS, lastRound(console.toString(StandardCharsets.ISO_8859_1))), "the copy");
            }
        }
    }

    @Test
    void aDestinationThatCannotTakeTheDiskRefusesAndTheSourceRunsOnWithIt() throws Exception {
        Path disk = disk();
        AtomicReference<DiskImage> squatter = new AtomicReference<>();
        // When DISKS arrives the source has let go of the image: another process takes it first (and lets go of it
        // half a second later), so the destination cannot open it.
        FaultHook takeTheDisk = (sent, type, index) -> {
            if (!sent && type == MessageType.DISKS && squatter.get() == null) {
                DiskImage held = DiskImage.open(disk, false);
                squatter.set(held);
                Thread t = new Thread(() -> {
                    try {
                        Thread.sleep(500);
                    } catch (InterruptedException ignored) {
                        // let go now
                    }
                    held.close();
                });
                t.setDaemon(true);
                t.start();
            }
        };
        try (RunningGuest a = boot(disk); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> true, 0, ROUND), a.output());
            var incoming = dest.receive(java.io.OutputStream.nullOutputStream(),
                    MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(takeTheDisk).withDiskPaths(java.util.Map.of("shared", disk)));
            MigrationException e = assertThrows(MigrationException.class,
                    () -> MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(InProcessMigrationTest.KEY), l -> { }));
            assertTrue(e.getMessage().contains("cannot open the guest's disks") && e.getMessage().contains("in use by another VM"), e.getMessage());
            assertTrue(e.getMessage().contains("the guest keeps running on the source"), e.getMessage());
            assertThrows(Exception.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertNotNull(squatter.get(), "the hook ran");
            int before = lastRound(a.output());
            assertNotNull(a.await(GuestLines.BLKCHECK_OK, m -> Integer.parseInt(m.group(1)) >= before + 2, 0, ROUND), a.output());
            assertFalse(a.output().contains("FAIL"), a.output());
            // The source holds the image again: nobody else can open it for writing.
            IOException locked = assertThrows(IOException.class, () -> DiskImage.open(disk, false));
            assertTrue(locked.getMessage().contains("in use by another VM"), locked.getMessage());
            a.machine().vm().pauseAll();
            assertNull(BlkcheckDisk.check(disk, BLOCKS, lastRound(a.output())), "the image at the source");
        }
    }
}
