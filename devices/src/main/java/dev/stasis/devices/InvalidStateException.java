package dev.stasis.devices;

/**
 * A device state record that cannot be restored: a snapshot is untrusted input, so every {@code restore}
 * checks each field and names the first one that is wrong ({@code "UartState.ier"}). It stays an
 * {@link IllegalArgumentException} so callers that do not care about devices need not know this type.
 */
public final class InvalidStateException extends IllegalArgumentException {
    private final String field;

    public InvalidStateException(String field, String problem) {
        super(field + ": " + problem);
        this.field = field;
    }

    /** The offending field, qualified by its record: {@code "UartState.rxFifo"}. */
    public String field() {
        return field;
    }

    /** Returns {@code value} if it lies in {@code [min, max]}, else throws naming {@code field}. */
    public static long requireRange(String field, long value, long min, long max) {
        if (value < min || value > max) {
            throw new InvalidStateException(field, String.format(
                    "0x%x (%d) is outside 0x%x..0x%x", value, value, min, max));
        }
        return value;
    }

    /** Throws naming {@code field} unless {@code ok}; {@code problem} says which invariant broke. */
    public static void require(boolean ok, String field, String problem) {
        if (!ok) {
            throw new InvalidStateException(field, problem);
        }
    }
}
