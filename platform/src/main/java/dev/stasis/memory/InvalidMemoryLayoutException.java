package dev.stasis.memory;

/** A memory layout that breaks one of {@link MemoryLayout}'s rules; the message names the range. */
public final class InvalidMemoryLayoutException extends IllegalArgumentException {
    public InvalidMemoryLayoutException(String message) {
        super(message);
    }
}
