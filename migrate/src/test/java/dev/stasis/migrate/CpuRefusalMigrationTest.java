package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.arch.x86.cpu.CpuFeature;
import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.Guests;
import dev.stasis.fixtures.HostFeatures;
import dev.stasis.machine.BootSource;
import dev.stasis.vm.VmConfig;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A guest whose CPU the destination cannot present is refused by the destination, naming the feature, before
 * it takes the guest; the source resumes and the guest goes on there.
 */
@RequiresKvm
class CpuRefusalMigrationTest {
    static final Auth KEY = new Auth.Psk("0123456789abcdef-test-key".getBytes(StandardCharsets.UTF_8));

    @Test
    void aCpuTheDestinationCannotPresentIsRefusedAndTheSourceGoesOn() throws Exception {
        CpuFeature[] missing = new CpuFeature[1];
        // As if the guest had booted on a host with one feature this one lacks.
        try (RunningGuest a = RunningGuest.restore(VmConfig.of(64 << 20, 1), m -> {
                    m.boot(new BootSource.Flat(Guests.flatImage("dirtier"), Guests.slotValues("dirtier", Map.of("pages", "64", "report", "20"))));
                    missing[0] = HostFeatures.notPresentable(m);
                    HostFeatures.claim(m, missing[0]);
                });
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            var incoming = dest.receive(new ByteArrayOutputStream(), MigrationReceiver.Options.of(KEY));
            MigrationException e = assertThrows(MigrationException.class,
                    () -> MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(KEY), l -> { }));
            assertTrue(e.getMessage().contains(missing[0].describe()), "the refusal names the feature: " + e.getMessage());
            ExecutionException d = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            assertTrue(d.getCause().getMessage().contains(missing[0].describe()), d.getCause().getMessage());
            assertFalse(a.machine().vm().isStopped(), "the source still has the guest");
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > before, 0, Duration.ofSeconds(30)),
                    "the guest goes on at the source:\n" + a.output());
        }
    }
}
