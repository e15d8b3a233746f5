package dev.stasis.snapshot.state;

/**
 * State that cannot be loaded: a version outside what this build reads, a missing or mistyped field, a
 * value out of range. The message names the section and the field.
 */
public class StateException extends RuntimeException {
    public StateException(String message) {
        super(message);
    }

    public StateException(String message, Throwable cause) {
        super(message, cause);
    }
}
