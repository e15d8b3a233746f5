package dev.stasis.junit;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import java.time.Duration;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Clones from a pool: made ahead and paused (the first use fills the pool before it hands one over), handed over by
 * resuming them; each is still a fresh clone that starts where the golden image was saved, with its own identity.
 */
@RequiresKvm
@ExtendWith(StasisExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PoolTest {
    static final long ID_AT = 0x380000;
    static final byte[] MARK = "pooled clone 1 was here".getBytes();

    @StasisGuest(golden = Golden.TICKER, pool = 2, identityAt = ID_AT)
    GuestClone guest;

    @Test
    @Order(1)
    void theFirstTestAlreadyGetsAClonePreparedAhead() throws Exception {
        assertTrue(guest.fromPool(), "made ahead and handed over by resuming it");
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)), "it runs from the golden image's instant");
        assertEquals(guest.number(), java.nio.ByteBuffer.wrap(guest.memory().read(ID_AT, 8)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(),
                "its identity was written before it ran");
        guest.memory().write(ID_AT + 64, MARK);
    }

    @Test
    @Order(2)
    void theNextOneIsFreshToo() throws Exception {
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
        assertFalse(java.util.Arrays.equals(MARK, guest.memory().read(ID_AT + 64, MARK.length)), "not the first test's clone");
    }

    @Test
    @Order(3)
    void andTheOneAfter() throws Exception {
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
    }
}
