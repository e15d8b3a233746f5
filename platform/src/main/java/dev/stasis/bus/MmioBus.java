package dev.stasis.bus;

import dev.stasis.devices.MmioDevice;
import java.util.concurrent.atomic.LongAdder;

/**
 * The MMIO bus: routes guest accesses to addresses that are neither RAM nor an in-kernel device. Reads of
 * unclaimed addresses return all ones, writes are dropped; both are counted.
 */
public final class MmioBus {
    private final AddressRanges<MmioDevice> ranges = new AddressRanges<>();
    private final LongAdder unclaimed = new LongAdder();

    public void attach(long base, long length, MmioDevice device, String name) {
        ranges.add(base, length, device, name);
    }

    public long read(long address, int size) {
        AddressRanges.Entry<MmioDevice> e = ranges.find(address);
        if (e == null) {
            unclaimed.increment();
            return size >= 8 ? -1L : (1L << (8 * size)) - 1;
        }
        return e.device().read(address - e.base(), size);
    }

    public void write(long address, int size, long value) {
        AddressRanges.Entry<MmioDevice> e = ranges.find(address);
        if (e == null) {
            unclaimed.increment();
            return;
        }
        e.device().write(address - e.base(), size, value);
    }

    public long unclaimedAccesses() {
        return unclaimed.sum();
    }
}
