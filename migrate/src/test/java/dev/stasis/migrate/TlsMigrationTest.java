package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real guest migrated over TLS 1.3 on every connection (control and data), and a refusal that leaves it running. */
@RequiresKvm
class TlsMigrationTest {
    @TempDir
    Path dir;

    @Test
    void dirtierMovesOverTlsOnThreeConnections() throws Exception {
        TestPki pki = TestPki.create(dir);
        try (RunningGuest a = RunningGuest.start("dirtier", 2, Map.of("pages", "256", "report", "20"));
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), a.output());
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(pki.auth("destination", "ca")));
            var result = MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(pki.auth("source", "ca")).withConnections(3), l -> { });
            assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                Loopback.awaitDirtierRound(console, before + 60, "after a migration over TLS");
            }
            assertTrue(result.rounds() >= 2, result.toString());
        }
    }

    @Test
    void anExpiredDestinationCertificateLeavesTheGuestRunningAtTheSource() throws Exception {
        TestPki pki = TestPki.create(dir);
        try (RunningGuest a = RunningGuest.start("dirtier", 1, Map.of("pages", "64", "report", "20"));
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            var incoming = dest.receive(new ByteArrayOutputStream(), new MigrationReceiver.Options(pki.auth("expired", "ca"), Duration.ofSeconds(5),
                    dev.stasis.migrate.protocol.FaultHook.NONE));
            MigrationException e = assertThrows(MigrationException.class,
                    () -> MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(pki.auth("source", "ca")), l -> { }));
            assertTrue(e.getMessage().contains("has expired"), e.getMessage());
            assertFalse(a.machine().vm().isStopped(), "the guest runs on at the source");
            int last = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > last, 0, Duration.ofSeconds(30)), a.output());
            var refused = assertThrows(java.util.concurrent.ExecutionException.class, () -> incoming.get(15, TimeUnit.SECONDS), "no source got in");
            assertTrue(refused.getCause().getMessage().contains("did not connect and authenticate in time"), refused.getCause().getMessage());
        }
    }
}
