package dev.stasis.machine;

import dev.stasis.snapshot.state.StateDescription;

/** Where a machine's sections go when it is saved: a snapshot file, a migration stream, memory. */
public interface StateSink {
    <S> void section(StateDescription<S> description, int instance, S state);
}
