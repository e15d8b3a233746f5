package dev.stasis.migrate.precopy;

/**
 * Whether a span's pages go zstd-compressed or raw on one connection. Compressing pays only where the link is slower
 * per byte than zstd is per byte saved: on loopback and fast networks it does not (zstd level 1, ~270 MB/s here, took
 * 493 ms of the 1044 ms round that copied a disk's 128 MiB of data over loopback, for 40% fewer bytes), on a slow or
 * rate-limited link it does. Learnt as the
 * migration goes, per connection: zstd's speed and ratio from every compression (a sample of each large span included),
 * the link's from every send, never counted faster than its part of {@code --max-bandwidth} lets it be. Compresses while
 * it knows nothing yet, as the codec always did. The time of a send is the link's only once the socket's buffer is full:
 * while compressing, the buffer drains meanwhile and the link looks faster than it is, so on a link where compressing
 * only just pays the choice may go back and forth (the loopback and the rate-limited links measured are far from it).
 */
public final class CompressionChoice {
    /** A large span's leading bytes compressed to learn how this data compresses, whatever is chosen for the rest. */
    public static final int SAMPLE_BYTES = 64 << 10;
    /** The running figures forget half of what they knew after this many bytes more: they follow the data and the link. */
    private static final double HALF_LIFE_BYTES = 16 << 20;

    private final double limitNanosPerByte;
    private final Rate zstd = new Rate();
    private final Rate packedPerRaw = new Rate();
    private final Rate link = new Rate();

    /** @param maxBandwidth bytes per second the link may carry (--max-bandwidth), 0 = unlimited */
    public CompressionChoice(long maxBandwidth) {
        this.limitNanosPerByte = maxBandwidth > 0 ? 1e9 / maxBandwidth : 0;
    }

    /** Compress the next span: zstd's time per byte is less than the link time its saving would spare. */
    public boolean compress() {
        if (!zstd.known() || !link.known()) {
            return true;
        }
        return zstd.value() < (1 - packedPerRaw.value()) * Math.max(link.value(), limitNanosPerByte);
    }

    /** zstd made {@code packed} bytes of {@code raw} in {@code nanos}. */
    public void compressed(long raw, long packed, long nanos) {
        zstd.add(nanos, raw);
        packedPerRaw.add(Math.min(packed, raw), raw);
    }

    /** The link took {@code bytes} in {@code nanos}; a small send that only filled the socket's buffer counts for little. */
    public void sent(long bytes, long nanos) {
        link.add(nanos, bytes);
    }

    /** A ratio of sums weighted by bytes, older bytes fading ({@link #HALF_LIFE_BYTES}). */
    private static final class Rate {
        private double amount;
        private double bytes;

        void add(double amount, long bytes) {
            if (bytes <= 0) {
                return;
            }
            double fade = Math.pow(0.5, bytes / HALF_LIFE_BYTES);
            this.amount = this.amount * fade + amount;
            this.bytes = this.bytes * fade + bytes;
        }

        boolean known() {
            return bytes > 0;
        }

        double value() {
            return amount / bytes;
        }
    }
}
