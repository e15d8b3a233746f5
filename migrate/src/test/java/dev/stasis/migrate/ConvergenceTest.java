package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A guest that dirties memory faster than a (deliberately slow) link carries it: auto-converge throttles
 * the vCPUs until the dirty set fits the downtime target; with too little time it gives up and the guest
 * keeps running on the source, unthrottled.
 */
@RequiresKvm
class ConvergenceTest {
    static final Map<String, String> DIRTIER = Map.of("pages", "2048", "report", "5");

    @Test
    void aGuestDirtyingFasterThanTheLinkIsThrottledUntilItConverges() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 10, 0, Duration.ofSeconds(30)), a.output());
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
            List<String> log = new ArrayList<>();
            var result = MigrationSender.migrate(a.machine(), dest.address,
                    InProcessMigrationTest.options().withLimits(Duration.ofMillis(10), Duration.ofSeconds(90), 96 << 10), log::add); // 10 ms: out of reach unthrottled however slowly the emulated guest dirties
            System.out.println(String.join("\n", log));
            assertTrue(result.maxThrottle() >= 20, "auto-converge throttled the vCPUs: " + result + "\n" + String.join("\n", log));
            assertTrue(log.stream().anyMatch(l -> l.startsWith("auto-converge: vCPUs throttled to")), String.join("\n", log));
            assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                assertEquals(0, b.vm().runControl().throttlePercent(), "the destination runs at full speed");
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (InProcessMigrationTest.maxRound(console.toString(StandardCharsets.ISO_8859_1)) < before + 20 && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                String out = console.toString(StandardCharsets.ISO_8859_1);
                assertTrue(InProcessMigrationTest.maxRound(out) >= before + 20, "rounds go on past " + before + ":\n" + out);
                assertFalse(out.contains("FAIL"), out);
            }
        }
    }

    @Test
    void pastMaxTimeItGivesUpAndTheGuestRunsOnUnthrottled() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 10, 0, Duration.ofSeconds(30)), a.output());
            long vms = Loopback.openVms();
            var incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(InProcessMigrationTest.KEY));
            long start = System.nanoTime();
            MigrationException e = assertThrows(MigrationException.class, () -> MigrationSender.migrate(a.machine(), dest.address,
                    InProcessMigrationTest.options().withLimits(Duration.ofMillis(1), Duration.ofSeconds(3), 32 << 10), l -> { }));
            double took = (System.nanoTime() - start) / 1e9;
            assertEquals(MigrationException.Kind.TIMEOUT, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains("did not converge within 3 s") && e.getMessage().contains("keeps running on the source"), e.getMessage());
            assertTrue(took < 8, "gave up in " + took + " s");
            ExecutionException dead = assertThrows(ExecutionException.class, () -> incoming.get(40, TimeUnit.SECONDS));
            assertInstanceOf(MigrationException.class, dead.getCause());
            assertEquals(vms, Loopback.openVms(), "the destination freed its VM");
            assertFalse(a.machine().vm().isStopped());
            assertFalse(a.machine().vm().runControl().isPaused());
            assertEquals(0, a.machine().vm().runControl().throttlePercent());
            int round = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round + 10, 0, Duration.ofSeconds(20)), a.output());
            assertNull(a.await(GuestLines.DIRTIER_FAIL, 0, Duration.ZERO), a.output());
        }
    }
}
