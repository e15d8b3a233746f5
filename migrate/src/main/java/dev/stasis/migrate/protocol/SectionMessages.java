package dev.stasis.migrate.protocol;

import dev.stasis.machine.SectionRecords;
import dev.stasis.machine.StateSink;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.codec.RecordCodec;
import dev.stasis.snapshot.codec.SchemaCodec;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
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
            Encoder e = new Encoder().string(description.name()).varUnsigned(instance).varUnsigned(description.version());
            SchemaCodec.write(e, description.schema());
            RecordCodec.write(e, description.schema(), description.save(state), description.name());
            payloads.add(e.toBytes());
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

    /** Decodes one section from {@code d} into {@code into}; throws SnapshotFormatException on bad input. */
    public static SectionRecords.Key decode(Decoder d, SectionRecords into) {
        String name = d.string("section name", SchemaCodec.MAX_NAME_BYTES);
        int instance = d.varInt("section instance", 1 << 20);
        int version = d.varInt("section version", 1 << 20);
        StructSchema schema = SchemaCodec.read(d);
        StateRecord record = RecordCodec.read(d, schema, name);
        SectionRecords.Key key = new SectionRecords.Key(name, instance);
        into.put(key, new SectionRecords.Entry(version, record));
        return key;
    }
}
