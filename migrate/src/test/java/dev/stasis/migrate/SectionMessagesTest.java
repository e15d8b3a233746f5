package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.machine.SectionRecords;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.SectionMessages;
import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.codec.SchemaCodec;
import dev.stasis.snapshot.container.SectionCodec;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.util.List;
import org.junit.jupiter.api.Test;

/** SECTION payloads go through the snapshot file's section codec, with its checks, and never twice. */
class SectionMessagesTest {
    static final StructSchema SCHEMA = new StructSchema(List.of(FieldSchema.of("a", FieldType.U8)));
    static final StateRecord RECORD = StateRecord.builder().putLong("a", 7).build();

    private static SectionRecords.Key decode(byte[] payload, SectionRecords into) {
        var d = new Frame(MessageType.SECTION, payload, payload.length).decoder();
        SectionRecords.Key k = SectionMessages.decode(d, into);
        d.end("SECTION");
        return k;
    }

    @Test
    void aSectionRoundTripsAndADuplicateIsRefusedByName() {
        SectionRecords into = new SectionRecords();
        byte[] p = SectionCodec.encode("gen", 3, 2, SCHEMA, RECORD);
        assertEquals(new SectionRecords.Key("gen", 3), decode(p, into));
        assertEquals(2, into.entries().get(new SectionRecords.Key("gen", 3)).version());
        assertEquals(7L, into.entries().get(new SectionRecords.Key("gen", 3)).record().get("a"));
        var e = assertThrows(SnapshotFormatException.class, () -> decode(SectionCodec.encode("gen", 3, 1, SCHEMA, RECORD), into));
        assertTrue(e.getMessage().contains("duplicate section gen#3"), e.getMessage());
        assertEquals(2, into.entries().get(new SectionRecords.Key("gen", 3)).version(), "the first copy stays");
        decode(SectionCodec.encode("gen", 4, 1, SCHEMA, RECORD), into); // another instance is another section
        assertEquals(2, into.entries().size());
    }

    @Test
    void theFileCodecsChecksApply() {
        var e = assertThrows(SnapshotFormatException.class, () -> decode(raw("bad name", 0, 1), new SectionRecords()));
        assertTrue(e.getMessage().contains("characters outside"), e.getMessage());
        e = assertThrows(SnapshotFormatException.class, () -> decode(raw("gen", 0, 0), new SectionRecords()));
        assertTrue(e.getMessage().contains("gen version is 0"), e.getMessage());
        e = assertThrows(SnapshotFormatException.class, () -> decode(raw("x".repeat(129), 0, 1), new SectionRecords()));
        assertThrows(IllegalArgumentException.class, () -> SectionCodec.encode("bad name", 0, 1, SCHEMA, RECORD));
    }

    /** A section head the codec would not write. */
    private static byte[] raw(String name, int instance, int version) {
        Encoder e = new Encoder().string(name).varUnsigned(instance).varUnsigned(version);
        SchemaCodec.write(e, SCHEMA);
        e.u8(7);
        return e.toBytes();
    }
}
