package dev.stasis.checkpoint;

/**
 * How a restore puts guest memory in place.
 *
 * @param lazy       start the guest first and fill RAM from the file on fault and in the background
 *                   ({@link dev.stasis.memory.LazyRam}); false reads every page before the first instruction
 * @param prefetch   with {@code lazy}: fetch in the background; false fetches only what faults ask for until
 *                   something needs all RAM (a snapshot, a migration) — for tests that hold pages back
 * @param fetchFirst with {@code lazy}: chunk indices to fetch before the rest (the chunks the guest touched
 *                   first the last time), may be empty
 * @param imageCache null, or a directory of decoded RAM images ({@link RamImageCache}): RAM is then mapped
 *                   copy-on-write from the file's image, made there once and shared by every restore of the
 *                   file (neither eager nor lazy: the page cache serves each page on first touch)
 */
public record RestoreMode(boolean lazy, boolean prefetch, int[] fetchFirst, java.nio.file.Path imageCache) {
    public static final RestoreMode EAGER = new RestoreMode(false, false, new int[0], null);
    public static final RestoreMode LAZY = new RestoreMode(true, true, new int[0], null);

    /** RAM mapped from the file's image in {@code cache}, shared with every other restore of the file. */
    public static RestoreMode sharedImage(java.nio.file.Path cache) {
        return new RestoreMode(false, false, new int[0], cache);
    }

    public RestoreMode {
        fetchFirst = fetchFirst.clone();
    }

    @Override
    public int[] fetchFirst() {
        return fetchFirst.clone();
    }

    /** Lazy, fetching on fault only until all RAM is needed. */
    public RestoreMode onFaultOnly() {
        return new RestoreMode(true, false, fetchFirst, null);
    }

    public RestoreMode withFetchFirst(int[] chunks) {
        return new RestoreMode(lazy, prefetch, chunks, imageCache);
    }
}
