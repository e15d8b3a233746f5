package example;

/**
 * The golden image these tests clone. A project of yours builds its own once, with the guest it tests:
 * {@code stasis golden build --out src/test/resources/app.golden --ready 'READY' -- app.elf --mem 256M}; this example
 * uses the repository's fixture guest {@code ticker} (it prints {@code ticker n=N tsc=T} every 50 ticks; the image was
 * saved after n=100), so it needs nothing but a stasis build.
 */
final class Golden {
    static final String TICKER = "../../fixtures/src/test/resources/golden/1.3/ticker.stasis";

    private Golden() {}
}
