package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.Ballast;
import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;

/**
 * Post-copy on real guests, both ends in this JVM over loopback: the destination runs dirtier before its memory
 * is there, faults ask the source for pages while the rest is pushed, and every page arrives as the source held
 * it at the switch (dirtier checks its own pages; 8 MiB of host-written ballast at 32 MiB, which the guest never
 * touches, is compared byte for byte once all memory is in).
 */
@RequiresKvm
class PostcopyMigrationTest {
    static final long BALLAST = 32 << 20;
    static final int BALLAST_PAGES = 2048;
    static final Map<String, String> DIRTIER = Map.of("pages", "512", "report", "20");

    @Test
    void atOnceTheGuestRunsAtTheDestinationBeforeItsMemoryAndEveryPageArrives() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 2, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), a.output());
            Ballast.write(a.machine().memory(), BALLAST, BALLAST_PAGES);
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            List<String> destLog = new CopyOnWriteArrayList<>();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY), destLog::add);
            List<String> log = new CopyOnWriteArrayList<>();
            // The push held to 1 MiB/s (about 4 s for the 4 MB, in address order). Whether dirtier faults before the push
            // brings its pages depends on how the host schedules it (a fast host's push outran it, a loaded one's guest
            // slept through it); the last ballast page, read at the destination as soon as it runs, is asked for surely.
            var sending = java.util.concurrent.CompletableFuture.supplyAsync(() -> MigrationSender.migrate(a.machine(), dest.address,
                    InProcessMigrationTest.options().withLimits(Duration.ofMillis(300), Duration.ofSeconds(60), 1 << 20)
                            .withPostcopy(0, Duration.ofSeconds(30)), log::add));
            try (Machine b = incoming.get(20, TimeUnit.SECONDS)) {
                RemoteRam ram = (RemoteRam) b.memory().fill();
                assertNotNull(ram, "the destination's memory arrives while it runs");
                int last = BALLAST_PAGES - 1;
                // Safepoints (a collection a millisecond) while the read waits for the page: a copy faulting inside the
                // JVM held them up, and the threads serving the fault waited at them (the whole process hung).
                var collecting = new AtomicBoolean(true);
                Thread collector = new Thread(() -> {
                    while (collecting.get()) {
                        System.gc();
                        LockSupport.parkNanos(100_000);
                    }
                }, "collector");
                collector.setDaemon(true);
                collector.start();
                try {
                    // Bounded: the read waits in native code now, so a page that never comes fails the test, not the run.
                    byte[] read = assertTimeoutPreemptively(Duration.ofSeconds(30), () -> b.memory().read(BALLAST + last * 4096L, 4096));
                    assertArrayEquals(Ballast.page(last), read, "a page read before it was pushed");
                } finally {
                    collecting.set(false);
                    collector.join();
                }
                var result = sending.get(60, TimeUnit.SECONDS);
                assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
                assertEquals(1, result.rounds(), "no pre-copy round: " + result);
                assertTrue(result.postcopyRequests() > 0, "a page was asked for by a fault: " + result + "\n" + log);
                assertTrue(result.postcopyPages() >= 64L * 256, "all 64 MiB came after the switch: " + result);
                int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
                b.memory().awaitResident();
                assertEquals(-1, Ballast.firstDifference(b.memory(), BALLAST, BALLAST_PAGES), "the ballast arrived intact");
                RemoteRam.Stats s = ram.stats();
                assertTrue(s.roundTrips() > 0 && s.medianNanos() > 0, s.toString());
                Loopback.awaitDirtierRound(console, before + 40, "after a post-copy");
                assertFalse(b.vm().isStopped());
            }
            assertTrue(log.stream().anyMatch(l -> l.contains("if this source dies before then, the guest is lost")), log.toString());
        }
    }

    @Test
    void afterAPreCopyRoundThePagesWrittenSinceAreFetchedAgainNotKeptStale() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            GuestMemory source = a.machine().memory();
            Ballast.write(source, BALLAST, BALLAST_PAGES);
            // Once round 1 (all RAM, the ballast as first written) is acknowledged, the VMM rewrites half the ballast:
            // the destination holds stale copies of those pages, which post-copy must replace.
            AtomicBoolean rewritten = new AtomicBoolean();
            FaultHook rewrite = (sent, type, index) -> {
                if (!sent && type == MessageType.ROUND && rewritten.compareAndSet(false, true)) {
                    for (int p = 0; p < BALLAST_PAGES; p += 2) {
                        source.write(BALLAST + (long) p * 4096, Ballast.page(p + 7777));
                    }
                }
            };
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
            var result = MigrationSender.migrate(a.machine(), dest.address,
                    InProcessMigrationTest.options().withHook(rewrite)
                            .withLimits(Duration.ZERO, Duration.ofSeconds(60), 0).withPostcopy(1, Duration.ofSeconds(30)), l -> { });
            assertTrue(rewritten.get());
            assertEquals(2, result.rounds(), "one pre-copy round, then the switch: " + result);
            assertTrue(result.postcopyPages() >= BALLAST_PAGES / 2 && result.postcopyPages() < 64L * 256, "only what changed came after: " + result);
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                b.memory().awaitResident();
                for (int p = 0; p < BALLAST_PAGES; p++) {
                    byte[] want = Ballast.page(p % 2 == 0 ? p + 7777 : p);
                    assertArrayEquals(want, b.memory().read(BALLAST + (long) p * 4096, 4096), "ballast page " + p);
                }
                Loopback.awaitDirtierRound(console, before + 40, "after pre-copy and post-copy");
            }
        }
    }

    @Test
    void whileTheSourceReconnectsAnotherSessionOrANewMigrationIsRefusedByName() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            // The destination cuts the link at its first page after COMMIT; the source, about to say HELLO again, first
            // lets two strangers holding the key try their luck: one naming another session, one a new migration.
            AtomicBoolean committed = new AtomicBoolean(), cut = new AtomicBoolean(), tried = new AtomicBoolean();
            FaultHook cutOnce = (sent, type, index) -> {
                if (!sent && type == MessageType.COMMIT) {
                    committed.set(true);
                }
                if (committed.get() && !sent && type == MessageType.PAGES && cut.compareAndSet(false, true)) {
                    throw new IOException("test: link cut");
                }
            };
            List<String> refusals = new CopyOnWriteArrayList<>();
            FaultHook strangers = (sent, type, index) -> {
                if (sent && type == MessageType.HELLO && cut.get() && tried.compareAndSet(false, true)) {
                    for (long session : new long[] {0x1234, 0}) {
                        try (var ch = new dev.stasis.migrate.protocol.Channel(new java.net.Socket(dest.address.getAddress(), dest.address.getPort()),
                                FaultHook.NONE, new AtomicInteger())) {
                            dev.stasis.migrate.auth.Handshake.client(ch, InProcessMigrationTest.KEY, session, 0);
                            ch.expect(MessageType.ACCEPT);
                            refusals.add("ACCEPTED session " + session);
                        } catch (MigrationException e) {
                            refusals.add(e.getMessage());
                        }
                    }
                }
            };
            List<String> destLog = new CopyOnWriteArrayList<>();
            var incoming = dest.receive(new ByteArrayOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(cutOnce), destLog::add);
            var result = MigrationSender.migrate(a.machine(), dest.address, InProcessMigrationTest.options().withHook(strangers)
                    .withLimits(Duration.ofMillis(300), Duration.ofSeconds(60), 4 << 20).withPostcopy(0, Duration.ofSeconds(30)), l -> { });
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                b.memory().awaitResident();
            }
            assertEquals(1, result.recoveries(), result.toString());
            assertEquals(2, refusals.size(), refusals.toString());
            assertTrue(refusals.get(0).contains("no migration session 1234 here"), refusals.toString());
            assertTrue(refusals.get(1).contains("a post-copy migration is in progress here"), refusals.toString());
            assertTrue(destLog.stream().filter(l -> l.startsWith("refused ")).count() >= 2, destLog.toString());
        }
    }

    @Test
    void aReconnectionThatBreaksHalfWayStartsOverAndTheMoveFinishes() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            Ballast.write(a.machine().memory(), BALLAST, BALLAST_PAGES);
            // The link is cut at the first page after COMMIT; then the reconnection's second connection (its data
            // connection, after the control one was accepted) is cut in its handshake: the source starts over.
            AtomicBoolean committed = new AtomicBoolean(), cut = new AtomicBoolean();
            AtomicInteger hellos = new AtomicInteger();
            FaultHook cuts = (sent, type, index) -> {
                if (!sent && type == MessageType.COMMIT) {
                    committed.set(true);
                }
                if (committed.get() && !sent && type == MessageType.PAGES && cut.compareAndSet(false, true)) {
                    throw new IOException("test: link cut");
                }
                if (cut.get() && !sent && type == MessageType.HELLO && hellos.incrementAndGet() == 2) {
                    throw new IOException("test: the reconnection's data connection cut");
                }
            };
            List<String> destLog = new CopyOnWriteArrayList<>();
            var incoming = dest.receive(new ByteArrayOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(cuts), destLog::add);
            List<String> log = new CopyOnWriteArrayList<>();
            var result = MigrationSender.migrate(a.machine(), dest.address, InProcessMigrationTest.options()
                    .withLimits(Duration.ofMillis(300), Duration.ofSeconds(60), 4 << 20).withPostcopy(0, Duration.ofSeconds(30)), log::add);
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                b.memory().awaitResident();
                assertEquals(-1, Ballast.firstDifference(b.memory(), BALLAST, BALLAST_PAGES), log + "\n" + destLog);
            }
            assertTrue(hellos.get() >= 3, "the source came back again after the half-way break: " + hellos + "\n" + log + "\n" + destLog);
            assertEquals(1, result.recoveries(), result + "\n" + log);
        }
    }

    @Test
    void linkBreaksAtRandomMomentsDuringPostcopyAreRecoveredAndNoPageIsLost() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        try (RunningGuest a = RunningGuest.start("dirtier", 2, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), a.output());
            Ballast.write(a.machine().memory(), BALLAST, BALLAST_PAGES);
            // At the destination, after the switch: each page message received breaks the link with probability
            // 1/6, three times in all (so urgent answers, pushes and the messages of a recovery itself are all hit).
            // The push is held to 2 MiB/s, so the guest waits on pages, and asks for them, for a while.
            AtomicBoolean switched = new AtomicBoolean();
            AtomicInteger breaks = new AtomicInteger();
            AtomicInteger chances = new AtomicInteger();
            List<String> cuts = new CopyOnWriteArrayList<>();
            FaultHook cutter = (sent, type, index) -> {
                synchronized (random) { // the hook runs on every connection's thread
                    if (!sent && type == MessageType.COMMIT) {
                        switched.set(true); // before it, a break fails the migration (the source resumes): that is LinkFailureTest's
                    }
                    boolean candidate = sent ? type == MessageType.NEED : type == MessageType.PAGES || type == MessageType.PING;
                    // At random, but at the latest on the 4th chance: a post-copy quick enough to finish in a dozen
                    // messages must still be cut once (with 15 chances at 1 in 6, (5/6)^15: about 1 run in 15 had none).
                    boolean cutNow = candidate && switched.get() && (random.nextInt(6) == 0 || breaks.get() == 0 && chances.incrementAndGet() >= 4);
                    if (cutNow && breaks.get() < 3) {
                        breaks.incrementAndGet();
                        cuts.add((sent ? "sent " : "received ") + type + " #" + index);
                        throw new IOException("test: link cut after " + type);
                    }
                }
            };
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            List<String> destLog = new CopyOnWriteArrayList<>();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(cutter), destLog::add);
            List<String> log = new CopyOnWriteArrayList<>();
            var result = MigrationSender.migrate(a.machine(), dest.address,
                    InProcessMigrationTest.options().withConnections(2)
                            .withLimits(Duration.ofMillis(300), Duration.ofSeconds(60), 2 << 20).withPostcopy(0, Duration.ofSeconds(30)), log::add);
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            String story = "seed " + seed + ", cuts " + cuts + "\nsource: " + log + "\ndestination: " + destLog;
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                b.memory().awaitResident();
                assertTrue(result.recoveries() >= 1, "the link broke and was recovered: " + result + "\n" + story);
                assertTrue(result.recoveries() <= breaks.get(), "one recovery per broken link at most: " + story);
                assertEquals(-1, Ballast.firstDifference(b.memory(), BALLAST, BALLAST_PAGES), story);
                Loopback.awaitDirtierRound(console, before + 40, "after a post-copy with broken links (" + story + ")");
            }
        }
    }

}
