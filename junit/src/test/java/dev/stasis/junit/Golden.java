package dev.stasis.junit;

/** The golden snapshot the tests clone: the fixtures' portable ticker of format 1.3 (periodic, every 50, saved after n=100). */
final class Golden {
    static final String TICKER = "../fixtures/src/test/resources/golden/1.3/ticker.stasis";
    /** The first line a clone prints: the next report after the one before the snapshot. */
    static final String FIRST_LINE = "ticker n=150 tsc=\\d+";

    private Golden() {}
}
