package dev.stasis.junit;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.snapshot.container.SnapshotReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * A test that fails keeps its guest: {@link FailingOnPurpose} (run here through the JUnit launcher, never by the build
 * itself) fails after its clone counted a while; its failure names the snapshot of the clone as it was, which is a
 * sound snapshot file, and shows the console's last lines.
 */
@RequiresKvm
class EvidenceTest {
    @TempDir
    Path dir;

    /** Fails on purpose; not a test of the build (a nested class is not run on its own). */
    @ExtendWith(StasisExtension.class)
    static class FailingOnPurpose {
        @StasisGuest(golden = Golden.TICKER)
        GuestClone guest;

        @Test
        void failsAfterTheGuestCounted() throws Exception {
            guest.awaitLine("ticker n=200 tsc=\\d+", Duration.ofSeconds(30));
            fail("on purpose: the guest counted to 200");
        }
    }

    @Test
    void aFailingTestNamesASnapshotOfItsCloneAndShowsTheConsole() throws Exception {
        System.setProperty("stasis.evidence.dir", dir.toString());
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        try {
            LauncherFactory.create().execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(FailingOnPurpose.class)).build(), listener);
        } finally {
            System.clearProperty("stasis.evidence.dir");
        }
        List<TestExecutionSummary.Failure> failures = listener.getSummary().getFailures();
        assertEquals(1, failures.size(), "the one test fails");
        String message = failures.get(0).getException().getMessage();
        assertTrue(message.startsWith("on purpose: the guest counted to 200"), message);
        assertTrue(message.contains("its console, last lines") && message.contains("ticker n=200"), message);
        Matcher saved = Pattern.compile("saved to (\\S+\\.stasis)").matcher(message);
        assertTrue(saved.find(), message);
        Path file = Path.of(saved.group(1));
        assertEquals(dir, file.getParent());
        assertTrue(Files.size(file) > 0);
        assertEquals(List.of(), SnapshotReader.verify(file), "the evidence is a sound snapshot");
        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertTrue(r.hasSection("uart", 0) && r.memoryMap() != null, "a whole machine: its devices and its memory");
        }
    }
}
