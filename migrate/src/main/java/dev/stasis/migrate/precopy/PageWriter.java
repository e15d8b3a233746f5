package dev.stasis.migrate.precopy;

import com.github.luben.zstd.Zstd;
import dev.stasis.memory.GuestMemory;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.container.ZeroPage;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Encodes PAGES messages for one connection (and DISK_PAGES, the same after a disk's slot: a disk's 4 KiB blocks are
 * its pages, its byte offsets their addresses): a span of up to {@link Protocol#MAX_SPAN} pages from one base address, a bitmap of the pages carried and a bitmap of those that are all zero (they travel as that
 * bit alone), then the other pages back to back, zstd-compressed as one frame (or raw when that is smaller, or when
 * {@link CompressionChoice} finds the link faster than compressing). Owns its buffers; one per sending thread.
 */
public final class PageWriter {
    public static final int CODEC_RAW = 0;
    public static final int CODEC_ZSTD = 1;
    private static final int LEVEL = 1;

    /**
     * The span's non-zero pages, and their compressed form: grown to what a span needs, not made full size (32 MiB)
     * up front, which cost a fresh process tens of milliseconds of first-touch faults before the first round.
     */
    private byte[] raw = new byte[0];
    private byte[] packed = new byte[0];
    private long pages;
    private long zeroPages;
    private final CompressionChoice choice;
    /** Page bytes sent since zstd last sampled them. */
    private long sinceSample;

    /** A writer for a link without a bandwidth limit. */
    public PageWriter() {
        this(0);
    }

    /** @param maxBandwidth this connection's part of the link's limit in bytes per second (--max-bandwidth), 0 = none: compressing pays more under one */
    public PageWriter(long maxBandwidth) {
        this.choice = new CompressionChoice(maxBandwidth);
    }

    public long pages() {
        return pages;
    }

    public long zeroPages() {
        return zeroPages;
    }

    /**
     * Sends the pages of {@code [gpa, gpa + span pages)} whose bit is set in {@code bits} from word
     * {@code firstWord} on; nothing when none is. Returns the pages sent.
     */
    public int send(Channel ch, GuestMemory memory, long gpa, int span, long[] bits, int firstWord) {
        long[] sent = marked(span, bits, firstWord);
        int count = count(sent);
        if (count == 0) {
            return 0;
        }
        ByteBuffer ram = memory.buffer(gpa, span * Protocol.PAGE_SIZE);
        // A page never populated is zero without reading it (reading would map it in). A full round asks pagemap
        // once for the span; a few dirty pages only for their words, so the last round's pause does not read it all.
        long[] populated = count >= span / 8 ? memory.populatedPages(gpa, (long) span * Protocol.PAGE_SIZE) : null;
        long[] zero = new long[sent.length];
        for (int w = 0; w < sent.length; w++) {
            if (populated != null) {
                zero[w] = sent[w] & ~populated[w];
            } else if (sent[w] != 0 && memory.isKnownZero(gpa + (long) w * 64 * Protocol.PAGE_SIZE, (long) Math.min(64, span - w * 64) * Protocol.PAGE_SIZE)) {
                zero[w] = sent[w];
            }
        }
        return sendSpan(ch, MessageType.PAGES, null, ram, gpa, span, sent, zero);
    }

    /** The bits of {@code bits} from word {@code firstWord} for a span of {@code span} pages (none past its end). */
    public static long[] marked(int span, long[] bits, int firstWord) {
        int words = (span + 63) / 64;
        long[] sent = new long[words];
        for (int w = 0; w < words; w++) {
            long v = bits[firstWord + w];
            if (w == words - 1 && span % 64 != 0) {
                v &= (1L << (span % 64)) - 1;
            }
            sent[w] = v;
        }
        return sent;
    }

    public static int count(long[] bits) {
        int n = 0;
        for (long v : bits) {
            n += Long.bitCount(v);
        }
        return n;
    }

    /**
     * The codec itself, for guest RAM and disk blocks alike: sends the pages marked in {@code sent} of the span of
     * {@code span} 4 KiB pages at {@code base} whose bytes {@code data} holds (from its position; only marked pages not
     * already in {@code zero}, known zero, are read), as one message of {@code type}, after {@code prefix} (null: none).
     * Returns the pages sent.
     */
    public int sendSpan(Channel ch, MessageType type, Encoder prefix, ByteBuffer data, long base, int span, long[] sent, long[] zero) {
        int count = count(sent);
        int rawLength = 0;
        for (int w = 0; w < sent.length; w++) {
            for (long v = sent[w] & ~zero[w]; v != 0; v &= v - 1) {
                int page = w * 64 + Long.numberOfTrailingZeros(v);
                ByteBuffer p = data.slice(data.position() + page * Protocol.PAGE_SIZE, Protocol.PAGE_SIZE);
                if (ZeroPage.isZero(p)) {
                    zero[w] |= 1L << (page & 63);
                } else {
                    if (raw.length < rawLength + Protocol.PAGE_SIZE) {
                        raw = Arrays.copyOf(raw, Math.min(span, Math.max(64, 2 * raw.length / Protocol.PAGE_SIZE)) * Protocol.PAGE_SIZE);
                    }
                    p.get(raw, rawLength, Protocol.PAGE_SIZE);
                    rawLength += Protocol.PAGE_SIZE;
                }
            }
        }
        Encoder head = prefix != null ? prefix : new Encoder();
        head.u64(base).varUnsigned(span);
        for (long v : sent) {
            head.u64(v);
        }
        for (long v : zero) {
            head.u64(v);
        }
        byte[] body = raw;
        int bodyLength = rawLength;
        int codec = CODEC_RAW;
        if (rawLength > 0) {
            if (packed.length < Zstd.compressBound(rawLength)) {
                packed = new byte[(int) Zstd.compressBound(raw.length)];
            }
            sinceSample += rawLength;
            if (sinceSample >= 16 * CompressionChoice.SAMPLE_BYTES) {
                // How this data compresses, whatever is chosen: a sample a sixteenth of the bytes at most, small spans too
                // (else a ratio once learnt on random data would hold for good once only small spans came).
                compress(Math.min(rawLength, CompressionChoice.SAMPLE_BYTES));
                sinceSample = 0;
            }
            if (choice.compress()) {
                long n = compress(rawLength);
                if (!Zstd.isError(n) && n < rawLength) {
                    body = packed;
                    bodyLength = (int) n;
                    codec = CODEC_ZSTD;
                }
            }
        }
        head.u8(codec).varUnsigned(bodyLength);
        byte[] header = head.toBytes();
        long t = System.nanoTime();
        ch.send(type, header, body, bodyLength);
        choice.sent(header.length + bodyLength, System.nanoTime() - t);
        pages += count;
        zeroPages += count - rawLength / Protocol.PAGE_SIZE;
        return count;
    }

    /** Compresses the first {@code length} bytes of {@code raw} into {@code packed}; zstd's result, and the choice taught. */
    private long compress(int length) {
        long t = System.nanoTime();
        long n = Zstd.compressByteArray(packed, 0, packed.length, raw, 0, length, LEVEL);
        choice.compressed(length, Zstd.isError(n) ? length : n, System.nanoTime() - t);
        return n;
    }
}
