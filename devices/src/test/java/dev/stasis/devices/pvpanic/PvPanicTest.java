package dev.stasis.devices.pvpanic;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PvPanicTest {
    @Test
    void onlyThePanickedBitReportsAPanic() {
        List<Integer> events = new ArrayList<>();
        PvPanic p = new PvPanic(events::add);
        assertEquals(PvPanic.PANICKED | PvPanic.CRASH_LOADED, p.read(0, 1));
        p.write(0, 1, PvPanic.CRASH_LOADED);
        p.write(0, 1, 0);
        assertEquals(List.of(), events);
        p.write(0, 1, PvPanic.PANICKED);
        assertEquals(List.of(1), events);
    }
}
