package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.precopy.CompressionChoice;
import org.junit.jupiter.api.Test;

/** When a span goes compressed: zstd's time per byte against the link time its saving spares, as measured. */
class CompressionChoiceTest {
    private static final long MIB = 1 << 20;

    /** zstd at 4 ns a byte making 60% of the bytes (kernel text and prose at level 1, about). */
    private static CompressionChoice learnt(long maxBandwidth, double linkNanosPerByte) {
        CompressionChoice c = new CompressionChoice(maxBandwidth);
        c.compressed(32 * MIB, 19 * MIB, 4 * 32 * MIB);
        c.sent(32 * MIB, (long) (linkNanosPerByte * 32 * MIB));
        return c;
    }

    @Test
    void compressesWhileItKnowsNothing() {
        CompressionChoice c = new CompressionChoice(0);
        assertTrue(c.compress());
        c.compressed(MIB, MIB / 2, 4 * MIB);
        assertTrue(c.compress(), "the link not measured yet");
    }

    @Test
    void aLinkFasterThanZstdGetsRawPagesASlowOneCompressedOnes() {
        assertFalse(learnt(0, 0.5).compress(), "loopback: 2 GB/s");
        assertFalse(learnt(0, 1.0).compress(), "10 Gb/s");
        assertFalse(learnt(0, 8).compress(), "1 Gb/s: 41% of 8 ns a byte spared is less than zstd's 4");
        assertTrue(learnt(0, 12).compress(), "650 Mb/s: 41% of 12 ns spared for 4 spent");
        assertTrue(learnt(0, 100).compress(), "80 Mb/s");
    }

    @Test
    void aBandwidthLimitCountsAsASlowLink() {
        assertFalse(learnt(0, 0.5).compress());
        assertTrue(learnt(32 * MIB, 0.5).compress(), "--max-bandwidth 32 MiB/s on loopback");
        assertFalse(learnt(2048 * MIB, 0.5).compress(), "a limit above what zstd could spare");
    }

    @Test
    void dataThatDoesNotCompressGoesRawOnAnyLink() {
        CompressionChoice c = new CompressionChoice(0);
        c.compressed(32 * MIB, 32 * MIB, 2 * 32 * MIB);
        c.sent(32 * MIB, 100 * 32 * MIB);
        assertFalse(c.compress());
    }

    @Test
    void aSmallSendIntoTheSocketBufferDoesNotOverrideWhatLargeOnesTaught() {
        CompressionChoice c = learnt(0, 20);
        for (int i = 0; i < 100; i++) {
            c.sent(8192, 0); // a few pages the kernel took at once
        }
        assertTrue(c.compress());
    }

    @Test
    void theChoiceFollowsTheLinkAndTheDataWhenTheyChange() {
        CompressionChoice c = learnt(0, 20);
        assertTrue(c.compress());
        for (int i = 0; i < 8; i++) {
            c.sent(32 * MIB, 32 * MIB / 2); // the link got fast
        }
        assertFalse(c.compress());
        c = learnt(0, 20);
        for (int i = 0; i < 8; i++) {
            c.compressed(CompressionChoice.SAMPLE_BYTES, CompressionChoice.SAMPLE_BYTES, 4 * CompressionChoice.SAMPLE_BYTES);
        }
        assertTrue(c.compress(), "samples weigh by their bytes: 512 KiB do not outweigh 32 MiB");
        for (int i = 0; i < 8; i++) {
            c.compressed(32 * MIB, 32 * MIB, 4 * 32 * MIB); // the data turned random
        }
        assertFalse(c.compress());
    }
}
