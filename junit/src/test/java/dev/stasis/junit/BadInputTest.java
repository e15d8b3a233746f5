package dev.stasis.junit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.stasis.kvm.testing.RequiresKvm;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * What the extension does with what it cannot use, each run here through the JUnit launcher as a user's suite would
 * meet it: a golden image of a format this build cannot read, a pool bigger than the host's memory, a test that
 * keeps its clone beyond its end, a test that never lets go (a timeout). Each fails with one clear message naming the
 * image and what is wrong, and the next test of the same class still runs.
 */
@RequiresKvm
class BadInputTest {
    static Path newerFormat;
    static final AtomicReference<GuestClone> KEPT = new AtomicReference<>();

    /** A copy of the golden image claiming format 2.0 (the major version at offset 8). */
    static Path newerFormat() throws Exception {
        if (newerFormat == null) {
            Path p = Files.createTempFile("stasis-golden-2.0-", ".stasis");
            Files.copy(Path.of(Golden.TICKER), p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
                f.seek(8);
                f.write(new byte[] {2, 0});
            }
            p.toFile().deleteOnExit();
            newerFormat = p;
        }
        return newerFormat;
    }

    @ExtendWith(StasisExtension.class)
    static class NewerFormat {
        @Test
        void getsNoClone(@StasisGuest(golden = "target/newer-format.stasis") GuestClone guest) {
            fail("not reached");
        }

        @Test
        void theNextTestStillRuns(@StasisGuest(golden = Golden.TICKER) GuestClone guest) throws Exception {
            guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20));
        }
    }

    @ExtendWith(StasisExtension.class)
    static class PoolBeyondMemory {
        @Test
        void getsNoClone(@StasisGuest(golden = Golden.TICKER, pool = 1_000_000) GuestClone guest) {
            fail("not reached");
        }
    }

    @ExtendWith(StasisExtension.class)
    @org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.OrderAnnotation.class)
    static class KeepsItsClone {
        @Test
        @org.junit.jupiter.api.Order(1)
        void first(@StasisGuest(golden = Golden.TICKER) GuestClone guest) {
            KEPT.set(guest);
        }

        @Test
        @org.junit.jupiter.api.Order(2)
        void second() {
            KEPT.get().memory().read(0x1000, 8);
        }
    }

    @ExtendWith(StasisExtension.class)
    static class NeverLetsGo {
        @Test
        @Timeout(2)
        void hangs(@StasisGuest(golden = Golden.TICKER) GuestClone guest) throws Exception {
            KEPT.set(guest);
            Thread.sleep(60_000);
        }
    }

    @ExtendWith(StasisExtension.class)
    static class StaleGolden {
        @Test
        void getsNoClone(@StasisGuest(golden = "target/stale.golden") GuestClone guest) {
            fail("not reached");
        }
    }

    @ExtendWith(StasisExtension.class)
    static class GoldenWithAnInputNotHere {
        @Test
        void getsItsClone(@StasisGuest(golden = "target/stale.golden") GuestClone guest) throws Exception {
            guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20));
        }
    }

    static List<TestExecutionSummary.Failure> run(Class<?> c) {
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(c)).build(), listener);
        assertTrue(listener.getSummary().getTestsStartedCount() > 0, "the tests ran");
        return listener.getSummary().getFailures();
    }

    static String message(TestExecutionSummary.Failure f) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = f.getException(); t != null; t = t.getCause()) {
            b.append(t.getMessage()).append(" | ");
        }
        return b.toString();
    }

    @Test
    void aGoldenImageOfANewerFormatIsRefusedByNameAndTheSuiteGoesOn() throws Exception {
        Path copy = Path.of("target/newer-format.stasis");
        Files.copy(newerFormat(), copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        List<TestExecutionSummary.Failure> failures = run(NewerFormat.class);
        assertEquals(1, failures.size(), "only the test given the bad image fails");
        String m = message(failures.get(0));
        assertTrue(m.contains("golden image " + copy.toAbsolutePath()) && m.contains("cannot be restored here")
                && m.contains("format version 2.3 is newer than this build reads"), m);
    }

    /** A golden image whose recipe names an input that changed since it was built, as {@code stasis golden build} records it. */
    @Test
    void aGoldenImageWhoseBuildInputsChangedIsRefusedAsStale() throws Exception {
        Path input = Path.of("target/stale-input.bin").toAbsolutePath();
        Files.write(input, new byte[] {1, 2, 3});
        var recipe = dev.stasis.golden.GoldenRecipe.of(List.of(input.toString()), "ready", List.of(input.toString()));
        try (var m = dev.stasis.checkpoint.Checkpoint.restore(Path.of(Golden.TICKER), java.io.OutputStream.nullOutputStream(),
                dev.stasis.checkpoint.Checkpoint.Expect.ANY, dev.stasis.checkpoint.RestoreMode.EAGER, b -> { })) {
            dev.stasis.checkpoint.Checkpoint.save(m, Path.of("target/stale.golden"), dev.stasis.snapshot.container.WriterOptions.defaults(),
                    java.util.Map.of(dev.stasis.golden.GoldenRecipe.PROPERTY, recipe.toJson()));
        }
        Files.write(input, new byte[] {4, 5, 6});
        List<TestExecutionSummary.Failure> failures = run(StaleGolden.class);
        assertEquals(1, failures.size());
        String m = message(failures.get(0));
        assertTrue(m.contains("golden image " + Path.of("target/stale.golden").toAbsolutePath() + " is stale: " + input + " changed since the build")
                && m.contains("stasis golden build"), m);
        // An input that is not on this machine (the image committed, used elsewhere) cannot be compared: not held against it.
        Files.delete(input);
        assertEquals(List.of(), run(GoldenWithAnInputNotHere.class));
    }

    @Test
    void aPoolBeyondTheHostsMemoryIsRefusedSayingHowManyFit() {
        List<TestExecutionSummary.Failure> failures = run(PoolBeyondMemory.class);
        assertEquals(1, failures.size());
        String m = message(failures.get(0));
        assertTrue(m.contains("a pool of 1000000 clones of golden image") && m.contains("ask for at most"), m);
    }

    @Test
    void aCloneKeptBeyondItsTestIsRefusedByNameNotACrash() {
        List<TestExecutionSummary.Failure> failures = run(KeepsItsClone.class);
        assertEquals(1, failures.size(), "the first test passes; the second, using the first one's clone, fails");
        String m = message(failures.get(0));
        assertTrue(m.contains("clone " + KEPT.get().number() + " of golden image") && m.contains("was closed when its test (or class) ended"), m);
    }

    @Test
    void aTestThatNeverLetsGoTimesOutAndItsCloneIsClosed() {
        List<TestExecutionSummary.Failure> failures = run(NeverLetsGo.class);
        assertEquals(1, failures.size());
        assertTrue(message(failures.get(0)).contains("timed out"), message(failures.get(0)));
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> KEPT.get().memory());
        assertTrue(closed.getMessage().contains("was closed"), closed.getMessage());
    }
}
