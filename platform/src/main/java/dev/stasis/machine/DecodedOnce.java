package dev.stasis.machine;

import dev.stasis.snapshot.state.StateDescription;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A source whose sections are each decoded once however often they are asked for: a restore reads the VM and first
 * vCPU sections to build or check the machine, and the vCPU reads its own again ({@link StateSource#decodedOnce}).
 */
final class DecodedOnce implements StateSource {
    private final StateSource source;
    private final Map<Decoded, Object> decoded = new HashMap<>();

    /** A section as one description decodes it (descriptions are constants: equal only to themselves). */
    private record Decoded(StateDescription<?> description, int instance) {}

    DecodedOnce(StateSource source) {
        this.source = source;
    }

    @Override
    public synchronized <S> S section(StateDescription<S> description, int instance) {
        Decoded key = new Decoded(description, instance);
        @SuppressWarnings("unchecked")
        S s = (S) decoded.get(key);
        if (s == null) {
            s = source.section(description, instance);
            decoded.put(key, s);
        }
        return s;
    }

    @Override
    public List<SectionRecords.Key> keys() {
        return source.keys();
    }

    @Override
    public boolean optional(SectionRecords.Key key) {
        return source.optional(key);
    }
}
