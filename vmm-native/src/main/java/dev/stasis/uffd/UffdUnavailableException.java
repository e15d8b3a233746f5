package dev.stasis.uffd;

/** userfaultfd, or a mode of it stasis needs, cannot be used here; the message names what is missing and the fix. */
public final class UffdUnavailableException extends RuntimeException {
    public UffdUnavailableException(String message) {
        super(message);
    }
}
