package dev.stasis.machine;

import dev.stasis.devices.rtc.CmosRtc;
import dev.stasis.memory.MemoryLayout;

/**
 * The memory-size bytes firmware and old kernels read from CMOS: 0x30/0x31 KiB above 1 MiB (max 63 MiB),
 * 0x34/0x35 64 KiB blocks above 16 MiB below 4 GiB, 0x5b-0x5d 64 KiB blocks above 4 GiB (QEMU's layout).
 */
final class CmosMemorySize {
    private CmosMemorySize() {}

    static void write(CmosRtc rtc, MemoryLayout layout) {
        long low = 0, high = 0;
        for (var r : layout.ranges()) {
            if (r.gpa() < MemoryLayout.MMIO_HOLE_END) {
                low = Math.max(low, r.end());
            } else {
                high += r.size();
            }
        }
        long extKb = Math.min(Math.max(low - (1 << 20), 0) >> 10, 0xffff);
        rtc.setNvram(0x30, (int) (extKb & 0xff));
        rtc.setNvram(0x31, (int) (extKb >> 8));
        long above16 = Math.min(Math.max(low - (16 << 20), 0) >> 16, 0xffff);
        rtc.setNvram(0x34, (int) (above16 & 0xff));
        rtc.setNvram(0x35, (int) (above16 >> 8));
        long above4g = high >> 16;
        rtc.setNvram(0x5b, (int) (above4g & 0xff));
        rtc.setNvram(0x5c, (int) ((above4g >> 8) & 0xff));
        rtc.setNvram(0x5d, (int) ((above4g >> 16) & 0xff));
    }
}
