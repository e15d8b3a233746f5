package dev.stasis.memory;

/**
 * Guest RAM still arriving while the guest runs: a lazy restore from a file ({@link LazyRam}) or the pages a
 * post-copy migration brings from its source ({@link RemoteRam}). Whatever reads all of RAM waits for it first
 * ({@link GuestMemory#awaitResident}); a page not yet there is unpopulated, not zero.
 */
public interface RamFill extends AutoCloseable {
    /** The vCPUs run: background fetching may begin. */
    void guestStarted();

    /** True once every page is in place, or the fill failed. */
    boolean isDone();

    /**
     * Waits until every page is in place. Throws {@link IllegalStateException} naming the cause when the fill
     * failed: RAM then is not the guest's and must not be saved or sent.
     */
    void awaitResident();

    /** Runs {@code action} once the fill is done, failed or closed; at once if it was. */
    void whenDone(Runnable action);

    /** Why the fill failed, or null. */
    Throwable failure();

    /** Stops filling and lets every waiting access through; before RAM is unmapped. */
    @Override
    void close();
}
