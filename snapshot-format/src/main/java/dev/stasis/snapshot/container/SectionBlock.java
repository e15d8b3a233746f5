package dev.stasis.snapshot.container;

import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.codec.RecordCodec;
import dev.stasis.snapshot.codec.SchemaCodec;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;

/**
 * A SECTION block: name, instance (varint), version (varint), the schema, then the record encoded by
 * that schema up to the end of the payload. The reader parses the head at open and decodes the record
 * only when asked.
 *
 * @param payload     the block's payload bytes (CRC already checked)
 * @param recordStart where the record begins within the payload
 */
record SectionBlock(SectionInfo info, int block, long offset, byte[] payload, int recordStart) {
    static byte[] encode(String name, int instance, int version, StructSchema schema, StateRecord record) {
        Encoder out = new Encoder();
        out.string(name).varUnsigned(instance).varUnsigned(version);
        SchemaCodec.write(out, schema);
        RecordCodec.write(out, schema, record, name + "#" + instance);
        return out.toBytes();
    }

    static SectionBlock parse(byte[] payload, int block, long offset) {
        Decoder in = new Decoder(payload, 0, payload.length, offset + Layout.FRAME_HEAD, "section block " + block);
        String name = in.string("section name", 128);
        if (!SectionInfo.validName(name)) {
            throw in.malformed("section name '" + name + "' has characters outside [A-Za-z0-9_.:/-]");
        }
        int instance = in.varInt(name + " instance", Integer.MAX_VALUE);
        int version = in.varInt(name + " version", Integer.MAX_VALUE);
        if (version < 1) {
            throw in.malformed(name + " version is 0");
        }
        StructSchema schema = SchemaCodec.read(in);
        return new SectionBlock(new SectionInfo(name, instance, version, schema), block, offset, payload, in.position());
    }

    StateRecord record() {
        Decoder in = new Decoder(payload, recordStart, payload.length - recordStart, offset + Layout.FRAME_HEAD + recordStart, where());
        StateRecord r = RecordCodec.read(in, info.schema(), info.name());
        in.end("the record");
        return r;
    }

    String where() {
        return "section " + info.label() + " (block " + block + " at offset " + offset + ")";
    }
}
