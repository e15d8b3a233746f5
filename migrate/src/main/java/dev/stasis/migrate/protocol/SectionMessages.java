package dev.stasis.migrate.protocol;

import dev.stasis.machine.SectionRecords;
import dev.stasis.machine.StateSink;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.container.SectionCodec;
import dev.stasis.snapshot.container.SectionInfo;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateRecord;
import java.util.ArrayList;
import java.util.List;

/**
 * SECTION messages: one machine section each, as the snapshot file stores it (name, instance, version,
 * the sender's schema, the record encoded by that schema), so the destination decodes by the sender's
 * schema and loads through its own description, exactly as a file is restored.
 */
public final class SectionMessages {
    private SectionMessages() {}

    /** A sink that encodes each section into a SECTION payload, in save order. */
    public static final class Collector implements StateSink {
        private final List<byte[]> payloads = new ArrayList<>();

        @Override
        public <S> void section(StateDescription<S> description, int instance, S state) {
            payloads.add(SectionCodec.encode(description.name(), instance, description.version(), description.schema(), description.save(state)));
        }

        public List<byte[]> payloads() {
            return payloads;
        }
    }

    /** Encodes a single section (the VM configuration travels alone in SETUP). */
    public static <S> byte[] encode(StateDescription<S> description, int instance, S state) {
        Collector c = new Collector();
        c.section(description, instance, state);
        return c.payloads.get(0);
    }

    /**
     * Decodes one section from {@code d} into {@code into} with the snapshot file's codec (same checks);
     * throws SnapshotFormatException on bad input, and on a section {@code into} already holds: a second
     * copy of a section is refused, never silently kept in place of the first.
     */
    public static SectionRecords.Key decode(Decoder d, SectionRecords into) {
        SectionInfo info = SectionCodec.readHead(d);
        SectionRecords.Key key = new SectionRecords.Key(info.name(), info.instance());
        if (into.entries().containsKey(key)) {
            throw d.malformed("duplicate section " + info.label());
        }
        StateRecord record = SectionCodec.readRecord(d, info);
        into.put(key, new SectionRecords.Entry(info.version(), record));
        return key;
    }
}
