package dev.stasis.bus;

import dev.stasis.devices.PioDevice;
import java.util.concurrent.atomic.LongAdder;

/**
 * The port-I/O bus: routes a vCPU's IN/OUT to the device attached at that port. Reads of unclaimed ports
 * return all ones and writes to them are dropped, as on a PC with nothing there; both are counted.
 */
public final class PioBus {
    private final AddressRanges<PioDevice> ranges = new AddressRanges<>();
    private final LongAdder unclaimed = new LongAdder();

    /** Attaches {@code device} to ports {@code [base, base + count)}; the device sees offsets from base. */
    public void attach(int base, int count, PioDevice device, String name) {
        if (base < 0 || count <= 0 || base + count > 0x10000) {
            throw new IllegalArgumentException(String.format("%s: ports [0x%x, 0x%x) are not in the 64 KiB port space", name, base, base + count));
        }
        ranges.add(base, count, device, name);
    }

    public int read(int port, int size) {
        AddressRanges.Entry<PioDevice> e = ranges.find(port);
        if (e == null) {
            unclaimed.increment();
            return (int) ((1L << (8 * size)) - 1);
        }
        return e.device().read((int) (port - e.base()), size);
    }

    public void write(int port, int size, int value) {
        AddressRanges.Entry<PioDevice> e = ranges.find(port);
        if (e == null) {
            unclaimed.increment();
            return;
        }
        e.device().write((int) (port - e.base()), size, value);
    }

    /** Accesses to ports no device claims, since the VM started. */
    public long unclaimedAccesses() {
        return unclaimed.sum();
    }
}
