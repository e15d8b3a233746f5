package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;

/** One thing {@code verify} found wrong; the message names the block, section or chunk and the offset. */
public record Problem(SnapshotFormatException.Kind kind, String message) {
    static Problem of(SnapshotFormatException e) {
        return new Problem(e.kind(), e.getMessage());
    }

    @Override
    public String toString() {
        return message;
    }
}
