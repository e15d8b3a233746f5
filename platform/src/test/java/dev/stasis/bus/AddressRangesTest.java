package dev.stasis.bus;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** Ranges found by address through the sorted arrays: the edges, the gaps, and adds out of order. */
class AddressRangesTest {
    @Test
    void findsTheRangeHoldingAnAddressAndNothingInTheGaps() {
        AddressRanges<String> r = new AddressRanges<>();
        assertNull(r.find(0x3f8), "nothing before any add");
        r.add(0x3f8, 8, "com1", "uart");
        r.add(0x60, 1, "data", "i8042 data");
        r.add(0x70, 2, "rtc", "rtc");
        r.add(0x64, 1, "status", "i8042 status");
        assertNull(r.find(0x5f));
        assertEquals("data", r.find(0x60).device());
        assertNull(r.find(0x61));
        assertEquals("status", r.find(0x64).device());
        assertEquals("rtc", r.find(0x70).device());
        assertEquals("rtc", r.find(0x71).device());
        assertNull(r.find(0x72), "a range's end is not in it");
        assertEquals("com1", r.find(0x3ff).device());
        assertNull(r.find(0x400));
        assertNull(r.find(Long.MIN_VALUE));
        assertNull(r.find(Long.MAX_VALUE));
    }

    @Test
    void refusesAnOverlapAndKeepsWhatItHad() {
        AddressRanges<String> r = new AddressRanges<>();
        r.add(0x1000, 0x100, "a", "a");
        var e = assertThrows(IllegalArgumentException.class, () -> r.add(0x10ff, 0x10, "b", "b"));
        assertTrue(e.getMessage().contains("overlaps a"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> r.add(0x0f00, 0x101, "c", "c"));
        assertThrows(IllegalArgumentException.class, () -> r.add(0x2000, 0, "d", "d"));
        assertEquals("a", r.find(0x10ff).device());
        assertNull(r.find(0x1100));
    }
}
