package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;
import java.io.OutputStream;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Source and destination in one JVM over loopback TCP: the protocol end to end on real guests. */
@RequiresKvm
class InProcessMigrationTest {
    static final Auth KEY = new Auth.Psk("0123456789abcdef-test-key".getBytes(StandardCharsets.UTF_8));

    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void dirtierGoesOnAtTheDestinationAndTheSourceStops(int connections) throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 2, Map.of("pages", "256", "report", "20"));
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 40, 0, Duration.ofSeconds(30)), a.output());
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            var incoming = dest.receive(console, MigrationReceiver.Options.of(KEY));
            var result = MigrationSender.migrate(a.machine(), dest.address, MigrationSender.Options.of(KEY).withConnections(connections), l -> { });
            assertEquals(VmExit.Kind.MIGRATED, a.machine().vm().awaitExit(5000).kind());
            assertTrue(result.destination().contains("127.0.0.1"), result.destination());
            int before = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
            try (Machine b = incoming.get(10, TimeUnit.SECONDS)) {
                Loopback.awaitDirtierRound(console, before + 60, "after a migration over " + connections + " connection(s)");
                assertFalse(b.vm().isStopped());
            }
            assertTrue(result.rounds() >= 2, "pre-copy, then stop-and-copy: " + result);
            assertTrue(result.zeroPages() > 10_000, "most of 64 MiB is zero and travels as bits: " + result);
            assertTrue(result.bytes() < 4 << 20, "zero pages and compression keep it small: " + result);
        }
    }

    @Test
    void withSeveralConnectionsARoundIsAcknowledgedOnlyOnceEveryConnectionAppliedIt() throws Exception {
        try (RunningGuest a = RunningGuest.start("dirtier", 1, Map.of("pages", "64", "report", "20"));
             Loopback dest = new Loopback()) {
            assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> true, 0, Duration.ofSeconds(30)), a.output());
            // The first PAGES on a data connection takes 600 ms to apply; the control connection's are quick.
            AtomicBoolean delayed = new AtomicBoolean();
            FaultHook slowData = (sent, type, index) -> {
                if (!sent && type == MessageType.PAGES && Thread.currentThread().getName().equals("migrate-recv") && delayed.compareAndSet(false, true)) {
                    try {
                        Thread.sleep(600);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            };
            var incoming = dest.receive(OutputStream.nullOutputStream(), MigrationReceiver.Options.of(KEY).withHook(slowData));
            List<String> log = new CopyOnWriteArrayList<>();
            MigrationSender.migrate(a.machine(), dest.address, options().withConnections(3), log::add);
            incoming.get(20, TimeUnit.SECONDS).close();
            assertTrue(delayed.get());
            String first = log.stream().filter(l -> l.startsWith("round 1: ")).findFirst().orElseThrow();
            Matcher m = Pattern.compile("round 1: .* in ([0-9.,]+) ms;.*").matcher(first);
            assertTrue(m.matches(), first);
            assertTrue(Double.parseDouble(m.group(1).replace(',', '.')) >= 600, "round 1 ends when the slow connection applied its pages: " + first);
        }
    }

    static MigrationSender.Options options() {
        return MigrationSender.Options.of(KEY);
    }

    static int maxRound(String out) {
        int max = 0;
        for (String line : out.split("\n")) {
            Matcher m = GuestLines.DIRTIER_OK.matcher(line.strip());
            if (m.matches()) {
                max = Math.max(max, Integer.parseInt(m.group(1)));
            }
        }
        return max;
    }
}
