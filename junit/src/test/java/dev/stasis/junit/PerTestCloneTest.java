package dev.stasis.junit;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A fresh clone per test, by field and by parameter: each starts where the golden snapshot was saved, and what one
 * test does to its clone's memory is not in the next one's.
 */
@RequiresKvm
@ExtendWith(StasisExtension.class)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PerTestCloneTest {
    static final long MARK_GPA = 0x300000;
    static final byte[] MARK = "written by the first test".getBytes();
    static final Set<Integer> NUMBERS = ConcurrentHashMap.newKeySet();

    @StasisGuest(golden = Golden.TICKER)
    GuestClone guest;

    @Test
    @Order(1)
    void aCloneStartsWhereTheGoldenImageWasSaved() throws Exception {
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
        guest.memory().write(MARK_GPA, MARK);
        assertArrayEquals(MARK, guest.memory().read(MARK_GPA, MARK.length));
        assertTrue(NUMBERS.add(guest.number()));
    }

    @Test
    @Order(2)
    void theNextTestGetsAnotherCloneWithoutTheFirstOnesWrites() throws Exception {
        assertNotNull(guest.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)), "it starts from the golden image again");
        assertFalse(java.util.Arrays.equals(MARK, guest.memory().read(MARK_GPA, MARK.length)), "a clone's writes reach no other clone");
        assertTrue(NUMBERS.add(guest.number()), "clone numbers differ: " + NUMBERS);
    }

    @Test
    @Order(4)
    void eachCloneFindsItsOwnIdentityWhereAsked(@StasisGuest(golden = Golden.TICKER, identityAt = 0x380000) GuestClone a,
            @StasisGuest(golden = Golden.TICKER, identityAt = 0x380000) GuestClone b) throws Exception {
        for (GuestClone c : new GuestClone[] {a, b}) {
            java.nio.ByteBuffer id = java.nio.ByteBuffer.wrap(c.memory().read(0x380000, 24)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            assertEquals(c.number(), id.getLong(0), "its number");
            byte[] generation = new byte[16];
            id.get(8, generation);
            assertArrayEquals(c.generationId(), generation, "its generation ID");
        }
        assertNotEquals(a.number(), b.number());
        assertFalse(java.util.Arrays.equals(a.generationId(), b.generationId()), "fresh random IDs");
        assertNotNull(a.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)), "the guest runs on");
    }

    @Test
    @Order(3)
    void parametersGetClonesOfTheirOwn(@StasisGuest(golden = Golden.TICKER) GuestClone a, @StasisGuest(golden = Golden.TICKER) GuestClone b)
            throws Exception {
        assertNotSame(a.machine(), b.machine());
        a.memory().write(MARK_GPA, MARK);
        assertNotNull(a.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
        assertNotNull(b.awaitLine(Golden.FIRST_LINE, Duration.ofSeconds(20)));
        assertFalse(java.util.Arrays.equals(MARK, b.memory().read(MARK_GPA, MARK.length)));
        assertNull(a.awaitExit(Duration.ZERO), "ticker runs on");
    }

    @Test
    @Order(5)
    void whatATestTypesReachesItsClonesUart() throws Exception {
        int free = guest.machine().uart().rxFree();
        assertTrue(free > 0, "the UART's receiver is empty at the start");
        guest.type("h");
        long until = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (guest.machine().uart().rxFree() == free && System.nanoTime() < until) {
            Thread.sleep(5);
        }
        assertEquals(free - 1, guest.machine().uart().rxFree(), "ticker does not read its UART: the byte waits in its receiver");
    }
}
