package dev.stasis.machine;

/** How a restore holds each open disk against what the saved state says it held. */
public enum DiskCheck {
    /** Size, mode and content fingerprint must match; a disk that changed is refused by name. */
    FINGERPRINT,
    /** As {@link #FINGERPRINT}, but a changed disk is restored over with a note (the user said so). */
    ACCEPT_CHANGED,
    /**
     * Size and mode only: the caller compared the content already (a migration on shared storage compares a sample
     * of blocks against the source's, instead of waiting for a whole-disk fingerprint in the pause).
     */
    CHECKED_BY_CALLER
}
