package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException.Kind;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * Runs the memory writer (page scan for repeats, splices, chunk encoding, zstd) over a few MiB of made-up RAM, its
 * blocks thrown away: in a fresh process the first snapshot's scan and encoding run interpreted, then compiled as they
 * go (the first stopped snapshot of the benchmark's guest took 1.0-1.4 s in a process against 0.4-0.5 s after), and a
 * VM asked for its first snapshot minutes after it started has still never run them. Done in the background while
 * the guest runs, that cost leaves the snapshot. Once per process; failing only costs speed.
 */
public final class WriterWarmup {
    private WriterWarmup() {}

    private static final int RAM = 8 << 20;
    /** Passes over the made-up RAM: past the compile thresholds of the scan's per-page and per-anchor loops. */
    private static final int PASSES = 6;
    private static volatile boolean done;

    /** Warms the writer's memory path with {@code options} (the threads and level a snapshot will use). */
    public static void once(WriterOptions options) {
        if (done) {
            return;
        }
        synchronized (WriterWarmup.class) {
            if (done) {
                return;
            }
            try {
                GuestRam ram = madeUp();
                for (int i = 0; i < PASSES; i++) {
                    pass(ram, options);
                }
            } catch (IOException | RuntimeException e) {
                // only ever made a snapshot faster
            }
            done = true;
        }
    }

    /** One write of {@code ram}, its blocks thrown away: what it found (stored, referenced and zero pages). */
    static MemoryStats pass(GuestRam ram, WriterOptions options) throws IOException {
        MemoryMap map = MemoryMap.checked(Layout.PAGE_SIZE, options.chunkSize(), ram.ranges(), Kind.INVALID_INPUT);
        return new MemoryWriter(options).write(ram, map, BlockType.CHUNK, (type, block) -> { }, bytes -> { });
    }

    /**
     * Direct memory (what guest RAM is, so the compiled code is the one RAM runs) holding what a guest's does: random
     * bytes, the same bytes again 1000 bytes on (splices), aligned repeats, text and zero pages.
     */
    static GuestRam madeUp() {
        ByteBuffer b = ByteBuffer.allocateDirect(RAM);
        int quarter = RAM / 4;
        long x = 0x9E3779B97F4A7C15L;
        for (int at = 0; at < quarter; at += 8) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            b.putLong(at, x);
        }
        for (int at = 0; at + 1000 < quarter; at++) {
            b.put(quarter + 1000 + at, b.get(at));
        }
        b.put(2 * quarter, b, 0, quarter / 2);
        for (int at = 2 * quarter + quarter / 2; at < 3 * quarter; at++) {
            b.put(at, (byte) (' ' + (at * 31 + at / 97) % 90));
        }
        return new GuestRam() {
            @Override
            public List<RamRange> ranges() {
                return List.of(new RamRange(0, RAM));
            }

            @Override
            public ByteBuffer window(long gpa, int length) {
                return b.slice((int) gpa, length);
            }
        };
    }
}
