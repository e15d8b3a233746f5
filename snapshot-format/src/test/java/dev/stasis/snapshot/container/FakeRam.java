package dev.stasis.snapshot.container;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Guest RAM for tests: one buffer per range (direct or heap), usable as source and as sink. */
class FakeRam implements GuestRam, GuestRamSink {
    private final List<RamRange> ranges;
    private final List<ByteBuffer> buffers = new ArrayList<>();
    RuntimeException failAt;
    long failGpa = -1;

    FakeRam(List<RamRange> ranges, boolean direct) {
        this.ranges = List.copyOf(ranges);
        for (RamRange r : ranges) {
            buffers.add(direct ? ByteBuffer.allocateDirect(Math.toIntExact(r.size())) : ByteBuffer.allocate(Math.toIntExact(r.size())));
        }
    }

    /** The usual test layout: low RAM, a second range, and one above 4 GiB. */
    static List<RamRange> layout(int kib) {
        return List.of(new RamRange(0, kib * 1024L), new RamRange(0x10_0000L + kib * 1024L, 640 * 1024), new RamRange(0x1_0000_0000L, 3 * 64 * 1024 + 4096));
    }

    /** Pages cycle through: random bytes, zero, text, zero, a page zero but for one byte. */
    FakeRam fill(long seed) {
        Random rnd = new Random(seed);
        byte[] text = "the quick brown fox jumps over the lazy dog; ".repeat(100).getBytes(StandardCharsets.US_ASCII);
        byte[] page = new byte[4096];
        for (ByteBuffer b : buffers) {
            for (int p = 0; p < b.capacity() / 4096; p++) {
                java.util.Arrays.fill(page, (byte) 0);
                switch ((p + rnd.nextInt(2)) % 5) {
                    case 0 -> rnd.nextBytes(page);
                    case 2 -> System.arraycopy(text, p % 40, page, 0, 4096);
                    case 4 -> page[rnd.nextInt(4096)] = (byte) (1 + rnd.nextInt(200));
                    default -> { }
                }
                b.put(p * 4096, page);
            }
        }
        return this;
    }

    /** Every byte set to {@code v}, e.g. to show a non-zeroed sink gets its zero pages written. */
    FakeRam garbage(byte v) {
        for (ByteBuffer b : buffers) {
            for (int i = 0; i < b.capacity(); i++) {
                b.put(i, v);
            }
        }
        return this;
    }

    @Override
    public List<RamRange> ranges() {
        return ranges;
    }

    @Override
    public ByteBuffer window(long gpa, int length) {
        if (gpa == failGpa) {
            throw failAt;
        }
        for (int i = 0; i < ranges.size(); i++) {
            RamRange r = ranges.get(i);
            if (gpa >= r.gpa() && gpa + length <= r.end()) {
                return buffers.get(i).slice((int) (gpa - r.gpa()), length);
            }
        }
        throw new IllegalArgumentException("no RAM at " + Long.toHexString(gpa));
    }

    boolean sameBytes(FakeRam other) {
        for (int i = 0; i < buffers.size(); i++) {
            if (buffers.get(i).mismatch(other.buffers.get(i)) != -1) {
                return false;
            }
        }
        return true;
    }
}
