package dev.stasis.memory;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.devices.DmaMemory;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The VMM's own writes into guest RAM are recorded page by page while tracking is on, and only then. */
class WrittenPagesTest {
    static List<Long> pages(long[] map) {
        List<Long> out = new ArrayList<>();
        for (int w = 0; w < map.length; w++) {
            for (int b = 0; b < 64; b++) {
                if ((map[w] & (1L << b)) != 0) {
                    out.add(64L * w + b);
                }
            }
        }
        return out;
    }

    @Test
    void everyWriterMarksTheExactPagesItTouches() {
        try (GuestMemory m = new GuestMemory(MemoryLayout.ofSize(8 << 20))) {
            m.write(0, new byte[] {1}); // before tracking: not recorded
            m.writtenPages().track(true);
            m.write(3 * 4096 + 4090, new byte[10]); // straddles pages 3 and 4
            m.putInt(100 * 4096, 7);
            m.zero(10 * 4096, 3 * 4096);
            DmaMemory device = m;
            device.write(2000 * 4096 + 5, new byte[] {9}, 0, 1);
            byte[] back = new byte[1];
            device.read(2000 * 4096 + 5, back, 0, 1);
            assertEquals(9, back[0]);
            m.buffer(500 * 4096, 4096).put((byte) 1); // bulk fill path: not a VMM write to follow
            long[][] drained = m.writtenPages().drain();
            assertEquals(List.of(3L, 4L, 10L, 11L, 12L, 100L, 2000L), pages(drained[0]));
            assertEquals(List.of(), pages(m.writtenPages().drain()[0]), "a drain clears what it returned");
            m.writtenPages().track(false);
            m.putLong(5 * 4096, 1);
            assertEquals(List.of(), pages(m.writtenPages().drain()[0]), "not recorded once tracking is off");
        }
    }

    @Test
    void anAccessOutsideRamIsRefusedForDevicesToo() {
        try (GuestMemory m = new GuestMemory(MemoryLayout.ofSize(1 << 20))) {
            DmaMemory device = m;
            assertThrows(IndexOutOfBoundsException.class, () -> device.write(1 << 20, new byte[1], 0, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> device.read((1 << 20) - 1, new byte[2], 0, 2));
        }
    }
}
