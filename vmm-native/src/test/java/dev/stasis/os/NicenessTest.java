package dev.stasis.os;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A background thread runs at nice 10, and only it: the thread that made it keeps its own priority. */
class NicenessTest {
    @Test
    void aBackgroundThreadRunsAtNiceTenAndLeavesItsMakerAlone() throws Exception {
        int mine = Niceness.current();
        CompletableFuture<Integer> seen = new CompletableFuture<>();
        Thread t = Niceness.backgroundThread(() -> seen.complete(Niceness.current()));
        t.start();
        assertEquals(Math.max(mine, Niceness.BACKGROUND), seen.get(10, TimeUnit.SECONDS), "the background thread's nice value");
        t.join();
        assertEquals(mine, Niceness.current(), "the maker's nice value is untouched (Linux keeps one per thread)");
    }
}
