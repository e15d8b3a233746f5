package dev.stasis.memory;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.jna.Pointer;
import org.junit.jupiter.api.Test;

class PopulatedPagesTest {
    @Test
    void onlyNeverWrittenPagesAreKnownZero() {
        try (GuestMemory memory = new GuestMemory(MemoryLayout.ofSize(16 << 20)); PopulatedPages pages = PopulatedPages.open()) {
            assertNotNull(pages, "/proc/self/pagemap should be readable on Linux");
            long base = Pointer.nativeValue(memory.pointer(0, 16 << 20));
            assertTrue(pages.noneIn(base, 16 << 20), "fresh anonymous RAM is all unpopulated");
            memory.putByte(5 << 20, (byte) 1);
            assertFalse(pages.noneIn(base + (5 << 20), 4096), "the written page is populated");
            assertFalse(pages.noneIn(base + (4 << 20), 2 << 20), "a range holding it is populated");
            assertTrue(pages.noneIn(base + (6 << 20), 2 << 20), "other pages stay unpopulated");
            assertFalse(memory.isKnownZero(4 << 20, 2 << 20), "guest memory knows the written page is not zero");
            assertTrue(memory.isKnownZero(6 << 20, 2 << 20), "and that untouched pages are");
        }
    }
}
