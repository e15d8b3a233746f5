package dev.stasis.devices.virtio;

import static org.junit.jupiter.api.Assertions.*;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * A virtio-mmio driver for tests, written from the specification (virtio 1.2, 4.2.3 and 2.7): negotiates, sets up
 * queue 0 (16 entries, rings at fixed addresses), and lays out chains by hand, including the broken ones a hostile
 * guest would.
 */
final class QueueDriver {
    static final long DESC = 0x1000, AVAIL = 0x2000, USED = 0x3000;
    static final int SIZE = 16;

    final VirtioMmio transport;
    final NativeRam ram;
    final AtomicInteger interrupts;
    int availIdx;
    int usedSeen;

    QueueDriver(VirtioMmio transport, NativeRam ram, AtomicInteger interrupts) {
        this.transport = transport;
        this.ram = ram;
        this.interrupts = interrupts;
    }

    int reg(int offset) {
        return (int) transport.read(offset, 4);
    }

    void set(int offset, long value) {
        transport.write(offset, 4, value);
    }

    /** Reset, ACKNOWLEDGE, DRIVER, accept {@code features} (VERSION_1 included), FEATURES_OK; returns the status read back. */
    int negotiate(long features) {
        set(0x70, 0);
        set(0x70, 1);
        set(0x70, 3);
        set(0x24, 0);
        set(0x20, features & 0xffffffffL);
        set(0x24, 1);
        set(0x20, features >>> 32);
        set(0x70, 3 | 8);
        return reg(0x70);
    }

    void setUpQueue() {
        ram.ram.setMemory(DESC, USED + 0x1000 - DESC, (byte) 0);
        set(0x30, 0);
        assertTrue(reg(0x34) >= SIZE);
        set(0x38, SIZE);
        set(0x80, DESC);
        set(0x84, 0);
        set(0x90, AVAIL);
        set(0x94, 0);
        set(0xa0, USED);
        set(0xa4, 0);
        set(0x44, 1);
        availIdx = 0;
        usedSeen = 0;
    }

    void driverOk() {
        set(0x70, reg(0x70) | 4);
    }

    /** Descriptor {@code i}: a buffer at {@code addr}, {@code len} bytes, {@code flags}, chained to {@code next}. */
    void desc(int i, long addr, long len, int flags, int next) {
        ram.ram.setLong(DESC + 16L * i, addr);
        ram.ram.setInt(DESC + 16L * i + 8, (int) len);
        ram.ram.setShort(DESC + 16L * i + 12, (short) flags);
        ram.ram.setShort(DESC + 16L * i + 14, (short) next);
    }

    /** Makes {@code head} available and notifies. */
    void submit(int head) {
        ram.ram.setShort(AVAIL + 4 + 2L * (availIdx % SIZE), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        ram.ram.setShort(AVAIL + 2, (short) availIdx);
        set(0x50, 0);
    }

    int usedIdx() {
        return ram.ram.getShort(USED + 2) & 0xffff;
    }

    /** Waits until the device used one more chain; returns {id, len}. */
    int[] awaitUsed() throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while (usedIdx() == usedSeen) {
            assertTrue(System.nanoTime() < deadline, "the device used no chain in 5 s");
            Thread.sleep(1);
        }
        long e = USED + 4 + 8L * (usedSeen % SIZE);
        usedSeen = (usedSeen + 1) & 0xffff;
        return new int[] {ram.ram.getInt(e), ram.ram.getInt(e + 4)};
    }

    /** Waits until the transport says DEVICE_NEEDS_RESET and {@code log} has a line holding {@code says}. */
    void awaitNeedsReset(java.util.List<String> log, String says) throws InterruptedException {
        long deadline = System.nanoTime() + 5_000_000_000L;
        while ((reg(0x70) & 0x40) == 0 || log.stream().noneMatch(l -> l.contains(says))) {
            assertTrue(System.nanoTime() < deadline, "the device did not ask for a reset saying '" + says + "' in 5 s: " + log);
            Thread.sleep(1);
        }
    }
}
