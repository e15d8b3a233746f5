package example;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.stasis.snapshot.container.SnapshotReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/** Runs {@link FailsOnPurposeTest} and checks what its failure leaves: a sound snapshot of the clone, named in the message. */
class EvidenceCheckTest {
    @Test
    void theFailureNamesASnapshotOfTheCloneAndShowsItsConsole() throws Exception {
        if (!Files.exists(Path.of("/dev/kvm"))) {
            org.junit.jupiter.api.Assumptions.abort("/dev/kvm is absent on this host: stasis clones need KVM");
        }
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(FailsOnPurposeTest.class)).build(), listener);
        List<TestExecutionSummary.Failure> failures = listener.getSummary().getFailures();
        assertEquals(1, failures.size(), "it fails, once");
        String message = failures.get(0).getException().getMessage();
        assertTrue(message.startsWith("the guest said hello"), message);
        assertTrue(message.contains("ticker n=200"), "the console's tail: " + message);
        Matcher saved = Pattern.compile("saved to (\\S+\\.stasis)").matcher(message);
        assertTrue(saved.find(), message);
        Path file = Path.of(saved.group(1));
        assertTrue(file.startsWith(Path.of("target/stasis-evidence").toAbsolutePath()), file.toString());
        assertEquals(List.of(), SnapshotReader.verify(file), "a sound snapshot, for stasis core, mem or diff");
    }
}
