package dev.stasis.loader;

/** A file that is not a guest image a loader can place, with what is wrong with it. */
public final class InvalidImageException extends IllegalArgumentException {
    public InvalidImageException(String message) {
        super(message);
    }
}
