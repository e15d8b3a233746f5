package dev.stasis.junit;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import java.time.Duration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/** One clone for the whole class (a static field): the second test finds it where the first left it. */
@RequiresKvm
@ExtendWith(StasisExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PerClassCloneTest {
    @StasisGuest(golden = Golden.TICKER, scope = StasisGuest.Scope.PER_CLASS)
    static GuestClone guest;
    static int number;

    @Test
    @Order(1)
    void theClassCloneRuns() throws Exception {
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
        number = guest.number();
    }

    @Test
    @Order(2)
    void andIsStillTheSameCloneGoingOn() throws Exception {
        assertEquals(number, guest.number());
        assertNotNull(guest.awaitLine("ticker n=250 tsc=\\d+", Duration.ofSeconds(30)), "it counts on from where the first test left it");
    }
}
