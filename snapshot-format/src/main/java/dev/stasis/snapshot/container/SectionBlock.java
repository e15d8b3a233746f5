package dev.stasis.snapshot.container;

import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;

/**
 * A SECTION block: one {@link SectionCodec} section (name, instance, version, schema, record) filling
 * the payload. The reader parses the head at open and decodes the record
 * only when asked.
 *
 * @param payload     the block's payload bytes (CRC already checked)
 * @param recordStart where the record begins within the payload
 */
record SectionBlock(SectionInfo info, int block, long offset, byte[] payload, int recordStart) {
    static byte[] encode(String name, int instance, int version, StructSchema schema, StateRecord record) {
        return SectionCodec.encode(name, instance, version, schema, record);
    }

    static SectionBlock parse(byte[] payload, int block, long offset) {
        Decoder in = new Decoder(payload, 0, payload.length, offset + Layout.FRAME_HEAD, "section block " + block);
        SectionInfo info = SectionCodec.readHead(in);
        return new SectionBlock(info, block, offset, payload, in.position());
    }

    StateRecord record() {
        Decoder in = new Decoder(payload, recordStart, payload.length - recordStart, offset + Layout.FRAME_HEAD + recordStart, where());
        StateRecord r = SectionCodec.readRecord(in, info);
        in.end("the record");
        return r;
    }

    String where() {
        return "section " + info.label() + " (block " + block + " at offset " + offset + ")";
    }
}
