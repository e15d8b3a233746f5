package dev.stasis.snapshot.container;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The writer's warm-up RAM takes the paths a guest's does: stored, referenced (splices among them) and zero pages. */
class WriterWarmupTest {
    @Test
    void theMadeUpRamIsStoredReferencedAndZero() throws Exception {
        MemoryStats m = WriterWarmup.pass(WriterWarmup.madeUp(), WriterOptions.defaults());
        assertTrue(m.storedPages() > 0 && m.referencedPages() > 0 && m.zeroPages() > 0, m.toString());
        assertTrue(m.referencedPages() >= 400, "the shifted copy of 512 random pages and the aligned one of 256 are found: " + m);
        WriterWarmup.once(WriterOptions.defaults()); // never throws
    }
}
