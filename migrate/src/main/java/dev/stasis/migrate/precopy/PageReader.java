package dev.stasis.migrate.precopy;

import com.github.luben.zstd.Zstd;
import dev.stasis.memory.GuestMemory;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.container.ZeroPage;
import com.sun.jna.Memory;
import dev.stasis.memory.RemoteRam;
import java.nio.ByteBuffer;

/**
 * Applies PAGES messages to the destination's guest memory, treating every field as untrusted: the span
 * must lie inside one RAM range, the bitmaps must not claim pages outside the span, the zero pages must be
 * among those carried, and the data must decompress to exactly the pages that are not zero.
 * One per receiving thread (it owns a buffer that grows to the largest message's pages, 16 MiB at most).
 */
public final class PageReader {

    private final GuestMemory memory;
    private final Written written;
    private final RemoteRam ram;
    /** The expanded page data of the message at hand; grows to what a message needs, up to one full span. */
    private byte[] raw = new byte[64 << 10];
    /** Native memory for UFFDIO_COPY, allocated on the first post-copy page. */
    private Memory staging;
    private long pages;

    /**
     * The pages of a fresh machine that received data: the others are still zero from mmap, so a zero page
     * for them needs nothing, not even a read (which would fault in 262 144 pages for 1 GiB). Shared by
     * the readers of one session; spans are 64-word aligned and each span has one reader, so no word is
     * written by two threads.
     */
    public static final class Written {
        private final long[][] maps;

        public Written(GuestMemory memory) {
            var ranges = memory.layout().ranges();
            maps = new long[ranges.size()][];
            for (int i = 0; i < maps.length; i++) {
                maps[i] = new long[(int) ((ranges.get(i).size() / Protocol.PAGE_SIZE + 63) / 64)];
            }
        }
    }

    /** {@code memory} must be all zero to begin with (a fresh machine), as {@link Written} assumes. */
    public PageReader(GuestMemory memory, Written written) {
        this(memory, written, null);
    }

    /**
     * With {@code ram} (a session that may switch to post-copy: RAM is registered with userfaultfd from the start),
     * pre-copy pages go in through it ({@link RemoteRam#precopy}), not straight into memory.
     */
    public PageReader(GuestMemory memory, Written written, RemoteRam ram) {
        this.memory = memory;
        this.written = written;
        this.ram = ram;
    }

    public long pages() {
        return pages;
    }

    /**
     * A checked PAGES message: {@code span} pages from {@code gpa}, those carried in {@code sent}, those of them
     * all zero in {@code zero}; the contents of the other {@code dataPages} are in this reader's buffer, in order.
     */
    public record Span(long gpa, int span, long[] sent, long[] zero, int dataPages) {}

    /** Throws {@link dev.stasis.snapshot.SnapshotFormatException} for a message that breaks the rules. */
    public void apply(Frame f) {
        Span s = decode(f);
        if (ram != null) {
            pages += ram.precopy(s.gpa(), s.span(), s.sent(), s.zero(), stage(s));
            return;
        }
        long gpa = s.gpa();
        int span = s.span();
        int words = s.sent().length;
        long[] sent = s.sent();
        long[] zero = s.zero();
        ByteBuffer ram = memory.buffer(gpa, span * Protocol.PAGE_SIZE);
        var ranges = memory.layout().ranges();
        int slot = 0;
        while (!ranges.get(slot).contains(gpa, 1)) {
            slot++;
        }
        long[] touched = written.maps[slot];
        long firstPage = (gpa - ranges.get(slot).gpa()) / Protocol.PAGE_SIZE;
        int from = 0;
        for (int w = 0; w < words; w++) {
            for (long v = sent[w]; v != 0; v &= v - 1) {
                int bit = Long.numberOfTrailingZeros(v);
                int page = w * 64 + bit;
                long index = firstPage + page;
                boolean wasWritten = (touched[(int) (index >>> 6)] & (1L << (index & 63))) != 0;
                if ((zero[w] & (1L << bit)) != 0) {
                    if (wasWritten) {
                        ram.slice(page * Protocol.PAGE_SIZE, Protocol.PAGE_SIZE).put(ZeroPage.view());
                    }
                } else {
                    ram.slice(page * Protocol.PAGE_SIZE, Protocol.PAGE_SIZE).put(raw, from, Protocol.PAGE_SIZE);
                    from += Protocol.PAGE_SIZE;
                    touched[(int) (index >>> 6)] |= 1L << (index & 63);
                }
                pages++;
            }
        }
    }

    /**
     * A PAGES message of a post-copy, installed through {@code ram} (guest RAM is registered with userfaultfd there:
     * it is never written directly); returns the pages that were new.
     */
    public int install(Frame f, RemoteRam ram) {
        Span s = decode(f);
        int n = ram.install(s.gpa(), s.span(), s.sent(), s.zero(), stage(s));
        pages += n;
        return n;
    }

    /** The span's page data in native memory, for UFFDIO_COPY (null when it has none). */
    private Memory stage(Span s) {
        int bytes = s.dataPages() * Protocol.PAGE_SIZE;
        if (bytes > 0) {
            if (staging == null || staging.size() < bytes) {
                staging = new Memory(raw.length);
            }
            staging.write(0, raw, 0, bytes);
        }
        return staging;
    }

    /** Checks {@code f} and expands its page data into this reader's buffer; throws as {@link #apply} does. */
    public Span decode(Frame f) {
        Decoder d = f.decoder();
        Expanded s = decodeSpan(f, d, raw, (gpa, span) -> span > 0 && gpa % Protocol.PAGE_SIZE == 0
                && memory.layout().find(gpa, (long) span * Protocol.PAGE_SIZE) != null ? null
                : String.format("span of %d pages at 0x%x is not inside guest RAM", span, gpa));
        raw = s.raw();
        d.end("PAGES");
        return s.span();
    }

    /** Whether a span may be written where it says (it must also be non-empty and page-aligned): null when it may, else why not. */
    @FunctionalInterface
    public interface Bounds {
        String refusal(long base, int span);
    }

    /** A checked span and the buffer its page data was expanded into ({@code into}, or a larger one). */
    public record Expanded(Span span, byte[] raw) {}

    /**
     * Reads one span in the PAGES format from {@code d}, a decoder over {@code f} (the message's own fields before the
     * span already read), checks it
     * (its bitmaps, its data's size, {@code bounds}) and expands its page data into {@code into}, or into a larger
     * buffer when that one is too small. The caller ends the message.
     */
    public static Expanded decodeSpan(Frame f, Decoder d, byte[] into, Bounds bounds) {
        byte[] raw = into;
        long gpa = d.u64("base address");
        int span = d.varInt("span", Protocol.MAX_SPAN);
        String outside = bounds.refusal(gpa, span);
        if (outside != null) {
            throw d.malformed(outside);
        }
        int words = (span + 63) / 64;
        long[] sent = new long[words];
        long[] zero = new long[words];
        for (int w = 0; w < words; w++) {
            sent[w] = d.u64("page bitmap");
        }
        int dataPages = 0;
        for (int w = 0; w < words; w++) {
            zero[w] = d.u64("zero bitmap");
            if ((zero[w] & ~sent[w]) != 0) {
                throw d.malformed("a zero page is not among the pages carried");
            }
            dataPages += Long.bitCount(sent[w] & ~zero[w]);
        }
        if (span % 64 != 0 && (sent[words - 1] >>> (span % 64)) != 0) {
            throw d.malformed("the page bitmap claims pages beyond the span");
        }
        int codec = d.u8("codec");
        int length = d.varInt("data length", d.remaining());
        int rawLength = dataPages * Protocol.PAGE_SIZE; // at most one span: dataPages counts bits of a checked span
        if (raw.length < rawLength) {
            raw = new byte[Math.max(rawLength, Math.min(Protocol.MAX_SPAN * Protocol.PAGE_SIZE, raw.length * 4))];
        }
        int at = d.position();
        switch (codec) {
            case PageWriter.CODEC_RAW -> {
                if (length != rawLength) {
                    throw d.malformed("raw data of " + length + " bytes for " + dataPages + " pages");
                }
                System.arraycopy(f.data(), at, raw, 0, length);
            }
            case PageWriter.CODEC_ZSTD -> {
                long n;
                try {
                    n = Zstd.decompressByteArray(raw, 0, rawLength, f.data(), at, length);
                } catch (RuntimeException e) { // zstd-jni throws for some corrupt frames instead of returning an error code
                    throw d.malformed("compressed data does not expand to " + dataPages + " pages (" + e.getMessage() + ")");
                }
                if (Zstd.isError(n) || n != rawLength) {
                    throw d.malformed("compressed data does not expand to " + dataPages + " pages"
                            + (Zstd.isError(n) ? " (" + Zstd.getErrorName(n) + ")" : " (" + n + " bytes)"));
                }
            }
            default -> throw d.malformed("unknown page codec " + codec);
        }
        d.skip(length, "page data"); // read in place above: a copy of it was a fresh span-sized array a message
        return new Expanded(new Span(gpa, span, sent, zero, dataPages), raw);
    }
}
