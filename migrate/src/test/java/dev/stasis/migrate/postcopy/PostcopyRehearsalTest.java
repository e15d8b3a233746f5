package dev.stasis.migrate.postcopy;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.uffd.Userfaultfd;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The warm-up's post-copy rehearsal goes through (a silent failure would only leave the pause slow, so it is checked
 * here): every page arrives byte for byte, again on a second run, and none of its threads outlives it.
 */
class PostcopyRehearsalTest {
    @Test
    void aRehearsalBringsEveryPageAndLeavesNoThreadBehind() throws Exception {
        assertNull(Userfaultfd.unavailabilityCause(), "post-copy needs userfaultfd");
        assertTrue(PostcopyRehearsal.run(), "the first rehearsal went through");
        assertTrue(PostcopyRehearsal.run(), "and a second one");
        long until = System.nanoTime() + 5_000_000_000L;
        List<String> left;
        do {
            left = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                    .filter(n -> n.startsWith("postcopy-")).toList();
            if (!left.isEmpty()) {
                Thread.sleep(20);
            }
        } while (!left.isEmpty() && System.nanoTime() < until);
        assertEquals(List.of(), left, "threads of the rehearsal still running");
    }
}
