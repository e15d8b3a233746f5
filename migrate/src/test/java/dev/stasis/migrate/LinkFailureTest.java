package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Breaks the link right after each message one side sends or receives (each step of a reference run,
 * named by message type and occurrence), on a running dirtier. Until the source has sent COMMIT, every
 * break must leave the source guest running as it was (not paused, no throttle, dirtier still ok with
 * rising rounds) and the destination with no VM left open. After COMMIT there is never more than one
 * running copy: either the destination runs the guest, or (when the source cannot know) the source keeps
 * it paused for the operator, who resumes it.
 */
@RequiresKvm
class LinkFailureTest {
    record Step(MessageType type, int occurrence) {}

    /** Counts each message type; throws after occurrence {@code step}, or just records with null. */
    static final class Breaker implements FaultHook {
        final Step step;
        final List<Step> seen = new ArrayList<>();
        final Map<MessageType, Integer> counts = new EnumMap<>(MessageType.class);
        final AtomicBoolean fired = new AtomicBoolean();

        Breaker(Step step) {
            this.step = step;
        }

        @Override
        public synchronized void after(boolean sent, MessageType type, int index) throws IOException {
            Step s = new Step(type, counts.merge(type, 1, Integer::sum) - 1);
            seen.add(s);
            if (s.equals(step) && fired.compareAndSet(false, true)) {
                throw new IOException("link broken by the test after " + (sent ? "sending " : "receiving ") + s);
            }
        }
    }

    static final Map<String, String> DIRTIER = Map.of("pages", "128", "report", "10");

    static MigrationSender.Options options(FaultHook hook) {
        // A generous downtime target: one pre-copy round, so every run has the same steps.
        return InProcessMigrationTest.options().withLimits(Duration.ofSeconds(5), Duration.ofSeconds(60), 0).withHook(hook);
    }

    @ParameterizedTest(name = "break on the {0} side")
    @ValueSource(strings = {"source", "destination"})
    void everyBreakLeavesOneGuestRunningAndNothingHeld(String side) throws Exception {
        boolean onSource = side.equals("source");
        List<Step> steps;
        try (RunningGuest ref = RunningGuest.start("dirtier", 1, DIRTIER); Loopback dest = new Loopback()) {
            Breaker recorder = new Breaker(null);
            var incoming = dest.receive(OutputStream.nullOutputStream(),
                    MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(onSource ? FaultHook.NONE : recorder));
            MigrationSender.migrate(ref.machine(), dest.address, options(onSource ? recorder : FaultHook.NONE), l -> { });
            incoming.get(20, TimeUnit.SECONDS).close();
            steps = List.copyOf(recorder.seen);
        }
        assertTrue(steps.size() > 20, "the reference run: " + steps);
        List<Step> broken = new ArrayList<>();
        RunningGuest a = null;
        try {
            long vmsBefore = Loopback.openVms();
            for (Step step : steps) {
                if (a == null) {
                    a = RunningGuest.start("dirtier", 1, DIRTIER);
                    vmsBefore = Loopback.openVms();
                    assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) >= 10, 0, Duration.ofSeconds(30)), a.output());
                }
                Breaker hook = new Breaker(step);
                // A listener per step: after a break in the control connection's handshake the destination
                // goes on listening (a failed handshake is a stray peer to it); closing the listener ends that.
                Loopback dest = new Loopback();
                var incoming = dest.receive(OutputStream.nullOutputStream(),
                        MigrationReceiver.Options.of(InProcessMigrationTest.KEY).withHook(onSource ? FaultHook.NONE : hook));
                MigrationException failure = null;
                try {
                    MigrationSender.migrate(a.machine(), dest.address, options(onSource ? hook : FaultHook.NONE), l -> { });
                } catch (MigrationException e) {
                    failure = e;
                }
                dest.close();
                Machine b = null;
                try {
                    b = incoming.get(40, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    assertInstanceOf(MigrationException.class, e.getCause());
                }
                boolean sourceRuns = !a.machine().vm().isStopped() && !a.machine().vm().runControl().isPaused();
                if (!hook.fired.get()) {
                    // This step did not occur in this run (a final PAGES message may not be needed): it migrated.
                    assertNull(failure);
                    assertNotNull(b);
                    assertFalse(sourceRuns);
                    b.close();
                    a.close();
                    a = null;
                    continue;
                }
                broken.add(step);
                assertFalse(b != null && sourceRuns, "two running copies after a break at " + step);
                if (b != null) {
                    assertTrue(step.type() == MessageType.COMMIT || step.type() == MessageType.STARTED, "the destination ran the guest after a break at " + step);
                    b.close();
                    a.close();
                    a = null;
                    continue;
                }
                assertNotNull(failure, "a break at " + step + " must fail the migration");
                assertEquals(vmsBefore, Loopback.openVms(), "the destination freed its VM after a break at " + step);
                assertFalse(a.machine().vm().isStopped(), "source stopped after a break at " + step);
                if (!sourceRuns) {
                    // Only once COMMIT went out may the source keep the guest paused, and then it says so.
                    assertTrue(failure.getMessage().contains("COMMIT was sent"), failure.getMessage());
                    a.machine().vm().resumeAll();
                }
                assertEquals(0, a.machine().vm().runControl().throttlePercent());
                assertFalse(a.machine().vm().isDirtyLogging(), "dirty logging left on after a break at " + step);
                int round = Loopback.lastRound(a, GuestLines.DIRTIER_OK);
                assertNotNull(a.await(GuestLines.DIRTIER_OK, m -> Integer.parseInt(m.group(1)) > round, 0, Duration.ofSeconds(20)),
                        "dirtier stopped after a break at " + step + ":\n" + a.output());
                assertNull(a.await(GuestLines.DIRTIER_FAIL, 0, Duration.ZERO), a.output());
            }
        } finally {
            if (a != null) {
                a.close();
            }
        }
        long nonPages = steps.stream().filter(s -> s.type() != MessageType.PAGES).count();
        assertTrue(broken.stream().filter(s -> s.type() != MessageType.PAGES).count() == nonPages,
                "every step but optional PAGES was broken: " + broken + " of " + steps);
        System.out.println(side + " side, broken after: " + broken);
    }
}
