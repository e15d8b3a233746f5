package example;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.junit.GuestClone;
import dev.stasis.junit.StasisExtension;
import dev.stasis.junit.StasisGuest;
import java.time.Duration;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Fails on purpose, to show what a failure leaves: the clone saved as a snapshot, named in the failure with the
 * console's last lines. Left out of the default run (the pom excludes its tag); EvidenceCheckTest runs it.
 */
@Tag("fails-on-purpose")
@ExtendWith(StasisExtension.class)
class FailsOnPurposeTest {
    @StasisGuest(golden = Golden.TICKER)
    GuestClone guest;

    @Test
    void theGuestNeverSaysHello() throws Exception {
        guest.awaitLine("ticker n=200 tsc=\\d+", Duration.ofSeconds(30));
        assertTrue(guest.output().contains("hello"), "the guest said hello");
    }
}
