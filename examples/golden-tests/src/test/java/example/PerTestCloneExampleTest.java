package example;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.junit.GuestClone;
import dev.stasis.junit.StasisExtension;
import dev.stasis.junit.StasisGuest;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** A fresh clone for every test: each starts where the golden image was saved, whatever the test before did. */
@ExtendWith(StasisExtension.class)
class PerTestCloneExampleTest {
    @StasisGuest(golden = Golden.TICKER)
    GuestClone guest;

    @Test
    void theGuestGoesOnFromTheGoldenImage() throws Exception {
        var line = guest.awaitLine("ticker n=(\\d+) tsc=\\d+", Duration.ofSeconds(20));
        assertEquals("150", line.group(1), "the first report after the one the image was saved at");
    }

    @Test
    void aTestMayWriteToItsClonesMemory() throws Exception {
        guest.memory().write(0x300000, "scribbled".getBytes());
        assertArrayEquals("scribbled".getBytes(), guest.memory().read(0x300000, 9));
        assertNotNull(guest.awaitLine("ticker n=150 tsc=\\d+", Duration.ofSeconds(20)), "it runs on");
    }

    @Test
    void oneCloneAsAParameterToo(@StasisGuest(golden = Golden.TICKER) GuestClone other) throws Exception {
        assertNotEquals(guest.number(), other.number(), "two clones, numbered apart");
        assertNotNull(other.awaitLine("ticker n=150 tsc=\\d+", Duration.ofSeconds(20)));
    }
}
