package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.MemoryRange;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Encoder;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** PAGES messages through a real socket: round trips, and hostile spans and bitmaps refused. */
class PagesTest {
    @Test
    void randomPagesAndZeroPagesRoundTripAcrossTwoRanges() throws Exception {
        MemoryLayout layout = new MemoryLayout(List.of(new MemoryRange(0, 20 << 20), new MemoryRange(1L << 32, 1 << 20)));
        try (GuestMemory from = new GuestMemory(layout); GuestMemory to = new GuestMemory(layout);
             ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Channel out = new Channel(new Socket(ss.getInetAddress(), ss.getLocalPort()), FaultHook.NONE, new AtomicInteger());
             Channel in = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
            Random r = new Random(7);
            long[][] dirty = {new long[(20 << 20) / 4096 / 64], new long[(1 << 20) / 4096 / 64]};
            for (int i = 0; i < 1500; i++) {
                int slot = r.nextInt(4) == 0 ? 1 : 0;
                long pages = layout.ranges().get(slot).size() / 4096;
                long p = r.nextLong(pages);
                dirty[slot][(int) (p / 64)] |= 1L << (p % 64);
                byte[] data = new byte[4096];
                if (r.nextBoolean()) {
                    r.nextBytes(data);
                } else {
                    data[r.nextInt(4096)] = 1;
                }
                from.write(layout.ranges().get(slot).gpa() + p * 4096, data);
            }
            PageWriter w = new PageWriter();
            PageReader reader = new PageReader(to, new PageReader.Written(to));
            // A page sent with data in an earlier round and zero now must end up zero.
            from.write(4096 * 3, new byte[] {9});
            reader.apply(sendOne(w, out, in, from, new long[] {1L << 3}));
            assertEquals(9, to.getByte(4096 * 3));
            from.write(4096 * 3, new byte[] {0});
            dirty[0][0] |= 1L << 3;
            long before = w.pages();
            int messages = 0;
            for (int slot = 0; slot < 2; slot++) {
                MemoryRange range = layout.ranges().get(slot);
                long pages = range.size() / 4096;
                for (long first = 0; first < pages; first += 4096) {
                    int span = (int) Math.min(4096, pages - first);
                    if (w.send(out, from, range.gpa() + first * 4096, span, dirty[slot], (int) (first / 64)) > 0) {
                        messages++;
                    }
                }
            }
            for (int i = 0; i < messages; i++) {
                reader.apply(in.expect(MessageType.PAGES));
            }
            assertEquals(w.pages(), reader.pages());
            assertTrue(w.pages() - before > 1000, "pages sent: " + (w.pages() - before));
            for (MemoryRange range : layout.ranges()) {
                assertEquals(-1, from.buffer(range.gpa(), (int) range.size()).mismatch(to.buffer(range.gpa(), (int) range.size())), "memory differs in " + range);
            }
        }
    }

    /**
     * A whole span of 4096 pages, as round 1 sends it (the writer asks pagemap for the span at once): the pages never
     * written go as zero, the written ones grow the writer's buffers from nothing to most of a span, and all arrive.
     */
    @Test
    void aFullSpanOfWrittenAndNeverWrittenPagesArrives() throws Exception {
        MemoryLayout layout = new MemoryLayout(List.of(new MemoryRange(0, 16 << 20)));
        try (GuestMemory from = new GuestMemory(layout); GuestMemory to = new GuestMemory(layout);
             ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Channel out = new Channel(new Socket(ss.getInetAddress(), ss.getLocalPort()), FaultHook.NONE, new AtomicInteger());
             Channel in = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
            Random r = new Random(11);
            byte[] data = new byte[4096];
            int written = 0;
            for (int page = 0; page < 4096; page++) {
                if (page % 4 != 0) { // 3072 pages of random data, every fourth page never touched
                    r.nextBytes(data);
                    from.write(page * 4096L, data);
                    written++;
                }
            }
            long[] all = new long[64];
            java.util.Arrays.fill(all, -1L);
            PageReader reader = new PageReader(to, new PageReader.Written(to));
            var applied = java.util.concurrent.CompletableFuture.runAsync(() -> reader.apply(in.expect(MessageType.PAGES)));
            PageWriter writer = new PageWriter();
            assertEquals(4096, writer.send(out, from, 0, 4096, all, 0));
            assertEquals(1024, writer.zeroPages());
            applied.get(30, java.util.concurrent.TimeUnit.SECONDS);
            assertEquals(4096, reader.pages());
            assertEquals(-1, from.buffer(0, 16 << 20).mismatch(to.buffer(0, 16 << 20)), "memory differs");
            assertTrue(out.bytesSent() > (long) written * 4096, "the written pages travel: " + out.bytesSent() + " bytes");
        }
    }

    /**
     * Both codecs on one link: a writer held to 1 MiB/s compresses every span of compressible pages (their saving is
     * worth more than zstd's time there), an unlimited one on loopback chooses for itself, and every page arrives.
     */
    @Test
    void aRateLimitedWriterCompressesAndEitherCodecArrivesIntact() throws Exception {
        int spans = 6, span = 1024; // 4 MiB each: large enough to be sampled
        MemoryLayout layout = new MemoryLayout(List.of(new MemoryRange(0, (long) spans * span * 4096)));
        try (GuestMemory from = new GuestMemory(layout); GuestMemory to = new GuestMemory(layout)) {
            Random r = new Random(5);
            byte[] page = new byte[4096];
            for (long p = 0; p < (long) spans * span; p++) {
                for (int i = 0; i < page.length; i++) {
                    page[i] = (byte) ('a' + r.nextInt(8)); // text-like: zstd takes it to about half
                }
                from.write(p * 4096, page);
            }
            PageReader reader = new PageReader(to, new PageReader.Written(to));
            long[] all = new long[spans * span / 64];
            java.util.Arrays.fill(all, -1L);
            var outcome = ChannelPair.run(in -> {
                List<Integer> codecs = new java.util.ArrayList<>();
                for (int i = 0; i < spans; i++) {
                    Frame f = in.expect(MessageType.PAGES);
                    codecs.add(codecOf(f, span));
                    reader.apply(f);
                }
                return codecs;
            }, out -> {
                PageWriter limited = new PageWriter(1 << 20), unlimited = new PageWriter();
                for (int i = 0; i < spans; i++) {
                    (i < spans / 2 ? limited : unlimited).send(out, from, (long) i * span * 4096, span, all, i * span / 64);
                }
                return null;
            });
            assertNull(outcome.server(), String.valueOf(outcome.server()));
            assertNull(outcome.client(), String.valueOf(outcome.client()));
            List<Integer> codecs = outcome.value();
            assertEquals(List.of(PageWriter.CODEC_ZSTD, PageWriter.CODEC_ZSTD, PageWriter.CODEC_ZSTD), codecs.subList(0, spans / 2), "codecs " + codecs);
            assertEquals((long) spans * span, reader.pages());
            long bytes = (long) spans * span * 4096;
            assertEquals(-1, from.buffer(0, (int) bytes).mismatch(to.buffer(0, (int) bytes)), "memory differs; codecs " + codecs);
        }
    }

    /** The codec byte of a PAGES message of a span of {@code span} pages. */
    private static int codecOf(Frame f, int span) {
        var d = f.decoder();
        d.u64("base");
        d.varUnsigned("span", Long.MAX_VALUE);
        for (int w = 0; w < 2 * ((span + 63) / 64); w++) {
            d.u64("bitmap");
        }
        return d.u8("codec");
    }

    private static Frame sendOne(PageWriter w, Channel out, Channel in, GuestMemory from, long[] bits) {
        w.send(out, from, 0, 64, bits, 0);
        return in.expect(MessageType.PAGES);
    }

    @Test
    void hostileMessagesAreRefused() {
        MemoryLayout layout = new MemoryLayout(List.of(new MemoryRange(0, 1 << 20)));
        try (GuestMemory mem = new GuestMemory(layout)) {
            PageReader reader = new PageReader(mem, new PageReader.Written(mem));
            // Span beyond RAM.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(4096).toBytes(), "not inside guest RAM");
            // Unaligned base.
            assertRefused(reader, new Encoder().u64(100).varUnsigned(1).toBytes(), "not inside guest RAM");
            // A zero page that is not carried.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(64).u64(1).u64(2).toBytes(), "zero page is not among");
            // Bits beyond the span.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(3).u64(0b1000).u64(0).toBytes(), "beyond the span");
            // Data length that disagrees with the pages.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(1).u64(1).u64(0).u8(PageWriter.CODEC_RAW).varUnsigned(10).raw(new byte[10]).toBytes(), "raw data of 10 bytes");
            // A data length larger than what is left.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(1).u64(1).u64(0).u8(PageWriter.CODEC_ZSTD).varUnsigned(1 << 20).toBytes(), "exceeds its maximum");
            // Compressed garbage.
            assertRefused(reader, new Encoder().u64(0).varUnsigned(1).u64(1).u64(0).u8(PageWriter.CODEC_ZSTD).varUnsigned(8).raw(new byte[8]).toBytes(), "does not expand");
        }
    }

    private static void assertRefused(PageReader reader, byte[] payload, String why) {
        SnapshotFormatException e = assertThrows(SnapshotFormatException.class, () -> reader.apply(new Frame(MessageType.PAGES, payload, payload.length)));
        assertTrue(e.getMessage().contains(why), e.getMessage());
    }
}
