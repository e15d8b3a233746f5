package dev.stasis.migrate.protocol;

import dev.stasis.snapshot.codec.Decoder;

/** One message as received: its type and payload ({@code length} bytes of {@code data}, which may be reused). */
public record Frame(MessageType type, byte[] data, int length) {
    /** A bounded reader over the payload; every count in it is checked against the bytes left. */
    public Decoder decoder() {
        return new Decoder(data, 0, length, 0, type + " message");
    }
}
