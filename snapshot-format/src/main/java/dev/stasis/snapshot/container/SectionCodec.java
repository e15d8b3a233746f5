package dev.stasis.snapshot.container;

import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.codec.RecordCodec;
import dev.stasis.snapshot.codec.SchemaCodec;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import dev.stasis.snapshot.state.Where;

/**
 * The one encoding of a machine section, shared by snapshot files (a SECTION block's payload) and live
 * migration (a SECTION message): string name, varint instance, varint version, the schema
 * ({@link SchemaCodec}), then the record encoded by that schema ({@link RecordCodec}). The reader checks the
 * name's characters and length, and that the version is at least 1, before it reads the schema.
 */
public final class SectionCodec {
    /** Longest section name, in bytes (names are ASCII). */
    public static final int MAX_NAME_BYTES = 128;

    private SectionCodec() {}

    /** Appends one section to {@code out}; {@code name} must be valid and {@code version} at least 1. */
    public static void write(Encoder out, String name, int instance, int version, StructSchema schema, StateRecord record) {
        if (!SectionInfo.validName(name) || instance < 0 || version < 1) {
            throw new IllegalArgumentException("bad section " + name + "#" + instance + " version " + version);
        }
        out.string(name).varUnsigned(instance).varUnsigned(version);
        SchemaCodec.write(out, schema);
        RecordCodec.write(out, schema, record, name + "#" + instance);
    }

    public static byte[] encode(String name, int instance, int version, StructSchema schema, StateRecord record) {
        Encoder out = new Encoder();
        write(out, name, instance, version, schema, record);
        return out.toBytes();
    }

    /** Reads a section's head (name, instance, version, schema); the record follows at {@code in}'s position. */
    public static SectionInfo readHead(Decoder in) {
        String name = in.string("section name", MAX_NAME_BYTES);
        if (!SectionInfo.validName(name)) {
            throw in.malformed("section name '" + name + "' has characters outside [A-Za-z0-9_.:/-]");
        }
        int instance = in.varInt(Where.suffix(name, " instance"), Integer.MAX_VALUE);
        int version = in.varInt(Where.suffix(name, " version"), Integer.MAX_VALUE);
        if (version < 1) {
            throw in.malformed(name + " version is 0");
        }
        StructSchema schema = SchemaCodec.read(in);
        return new SectionInfo(name, instance, version, schema);
    }

    /** Reads the record that follows {@code info}'s head, by {@code info}'s schema. */
    public static StateRecord readRecord(Decoder in, SectionInfo info) {
        return RecordCodec.read(in, info.schema(), info.name());
    }
}
