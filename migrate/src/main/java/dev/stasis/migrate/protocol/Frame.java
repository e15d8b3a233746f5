package dev.stasis.migrate.protocol;

import dev.stasis.snapshot.codec.Decoder;
import java.util.function.Function;

/** One message as received: its type and payload ({@code length} bytes of {@code data}, which may be reused). */
public record Frame(MessageType type, byte[] data, int length) {
    /** A bounded reader over the payload; every count in it is checked against the bytes left. */
    public Decoder decoder() {
        return new Decoder(data, 0, length, 0, type + " message");
    }

    /**
     * Decodes the payload with {@code body} and checks it used every byte (the protocol's rule: a payload is
     * used up exactly, never partly); throws {@link dev.stasis.snapshot.SnapshotFormatException} otherwise.
     */
    /** Checks that the payload is empty (PING, DATA_END, READY, ...), as {@link #read} does. */
    public void readEmpty() {
        read(NO_BODY);
    }

    /** The body of an empty payload, linked with the class: its first use, inside a migration's pause, links no lambda. */
    static final Function<Decoder, Void> NO_BODY = d -> null;

    public <T> T read(Function<Decoder, T> body) {
        Decoder d = decoder();
        T value = body.apply(d);
        d.end(type.toString());
        return value;
    }
}
