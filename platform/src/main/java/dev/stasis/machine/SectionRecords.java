package dev.stasis.machine;

import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.snapshot.state.StateRecord;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sections held as generic records in memory, each with the version it was saved at: a sink and a source
 * that go through exactly the encode/decode-by-name path a file takes, without the file.
 */
public final class SectionRecords implements StateSink, StateSource {
    public record Key(String name, int instance) {}

    public record Entry(int version, StateRecord record) {}

    private final Map<Key, Entry> sections = new LinkedHashMap<>();

    @Override
    public synchronized <S> void section(StateDescription<S> description, int instance, S state) {
        sections.put(new Key(description.name(), instance), new Entry(description.version(), description.save(state)));
    }

    @Override
    public synchronized <S> S section(StateDescription<S> description, int instance) {
        Entry e = sections.get(new Key(description.name(), instance));
        if (e == null) {
            throw new StateException("section " + description.name() + "[" + instance + "] is missing");
        }
        return description.load(e.record(), e.version());
    }

    @Override
    public synchronized List<Key> keys() {
        return List.copyOf(sections.keySet());
    }

    /** Sections kept in memory or sent over a migration link are never optional: a reader must know each. */
    @Override
    public boolean optional(Key key) {
        return false;
    }

    public synchronized Map<Key, Entry> entries() {
        return Map.copyOf(sections);
    }

    public synchronized void put(Key key, Entry entry) {
        sections.put(key, entry);
    }
}
