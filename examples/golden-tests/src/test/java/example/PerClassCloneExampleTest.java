package example;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.junit.GuestClone;
import dev.stasis.junit.StasisExtension;
import dev.stasis.junit.StasisGuest;
import java.time.Duration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/** One clone for the whole class (a static field): the second test finds the guest where the first left it. */
@ExtendWith(StasisExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PerClassCloneExampleTest {
    @StasisGuest(golden = Golden.TICKER, scope = StasisGuest.Scope.PER_CLASS)
    static GuestClone guest;

    @Test
    @Order(1)
    void firstTestSeesItCount() throws Exception {
        assertNotNull(guest.awaitLine("ticker n=200 tsc=\\d+", Duration.ofSeconds(30)));
    }

    @Test
    @Order(2)
    void secondTestFindsTheSameGuestFurtherOn() throws Exception {
        assertTrue(guest.output().contains("ticker n=200 "), "the first test's lines are this clone's too");
        assertNotNull(guest.awaitLine("ticker n=250 tsc=\\d+", Duration.ofSeconds(30)));
    }
}
