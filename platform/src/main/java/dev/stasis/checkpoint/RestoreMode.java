package dev.stasis.checkpoint;

import java.nio.file.Path;

/**
 * How a restore puts guest memory in place.
 *
 * @param lazy        start the guest first and fill RAM from the file on fault and in the background
 *                    ({@link dev.stasis.memory.LazyRam}); false reads every page before the first instruction.
 *                    A lazy restore fetches first the chunks a {@code FILE.order} record names ({@link FetchOrder})
 * @param prefetch    with {@code lazy}: fetch in the background; false fetches only what faults ask for until
 *                    something needs all RAM (a snapshot, a migration) — for tests that hold pages back
 * @param recordOrder with {@code lazy}: write that record beside the file if there is none (a user's restore of a
 *                    file kept; not the demo's or a benchmark's throwaway files)
 * @param copyPages   with {@code lazy}: copy each chunk's non-zero pages in (UFFDIO_COPY, 4 KiB pages) even where
 *                    the kernel could move whole chunks in decoded in place (UFFDIO_MOVE, Linux 6.8, the default
 *                    there: huge pages, zero pages and all): what older kernels do; RAM then holds only the file's
 *                    non-zero pages ({@code restore --copy-pages})
 * @param imageCache  null, or a directory of decoded RAM images ({@link RamImageCache}): RAM is then mapped
 *                    copy-on-write from the file's image, made there once and shared by every restore of the
 *                    file (neither eager nor lazy: the page cache serves each page on first touch)
 */
public record RestoreMode(boolean lazy, boolean prefetch, boolean recordOrder, boolean copyPages, Path imageCache) {
    public static final RestoreMode EAGER = new RestoreMode(false, false, false, false, null);
    public static final RestoreMode LAZY = new RestoreMode(true, true, false, false, null);

    /** RAM mapped from the file's image in {@code cache}, shared with every other restore of the file. */
    public static RestoreMode sharedImage(Path cache) {
        return new RestoreMode(false, false, false, false, cache);
    }

    /** Lazy, fetching on fault only until all RAM is needed. */
    public RestoreMode onFaultOnly() {
        return new RestoreMode(true, false, recordOrder, copyPages, null);
    }

    /** Lazy, recording the order the guest touched its memory for the next restore of the file. */
    public RestoreMode recordingOrder() {
        return new RestoreMode(true, prefetch, true, copyPages, null);
    }

    /** Lazy, copying pages in even where the kernel could move them. */
    public RestoreMode copyingPages() {
        return new RestoreMode(true, prefetch, recordOrder, true, null);
    }
}
