package dev.stasis.machine;

import dev.stasis.snapshot.state.StateDescription;
import java.util.List;

/**
 * Where a machine's sections come from when it is restored. Implementations decode by the stored schema
 * and load through {@code description.load(record, storedVersion)}, and throw a
 * {@link dev.stasis.snapshot.state.StateException} naming the section when it is missing or refused.
 */
public interface StateSource {
    <S> S section(StateDescription<S> description, int instance);

    /** Every section the source holds, so a restore can refuse the ones it does not know. */
    List<SectionRecords.Key> keys();

    /** Whether the writer marked {@code key} optional: state a reader that does not know it may skip. */
    boolean optional(SectionRecords.Key key);

    /** {@code source} with each section decoded once, the object then shared (state objects are not changed by their readers). */
    static StateSource decodedOnce(StateSource source) {
        return source instanceof DecodedOnce ? source : new DecodedOnce(source);
    }
}
