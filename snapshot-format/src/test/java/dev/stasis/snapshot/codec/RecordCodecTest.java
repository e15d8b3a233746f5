package dev.stasis.snapshot.codec;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecordCodecTest {
    static StructSchema schema(FieldSchema... fields) {
        return new StructSchema(List.of(fields));
    }

    static StateRecord roundTrip(StructSchema s, StateRecord r) {
        Encoder out = new Encoder();
        SchemaCodec.write(out, s);
        RecordCodec.write(out, s, r, "t");
        byte[] b = out.toBytes();
        Decoder in = new Decoder(b, 0, b.length, 100, "test block");
        StructSchema back = SchemaCodec.read(in);
        assertEquals(s, back);
        StateRecord rec = RecordCodec.read(in, back, "t");
        in.end("record");
        return rec;
    }

    static SnapshotFormatException decodeFails(StructSchema s, Encoder raw) {
        byte[] b = raw.toBytes();
        return assertThrows(SnapshotFormatException.class, () -> {
            Decoder in = new Decoder(b, 0, b.length, 0, "test block");
            RecordCodec.read(in, s, "t");
            in.end("record");
        });
    }

    @Test
    void everyTypeAtItsLimitsRoundTrips() {
        StructSchema inner = schema(FieldSchema.of("x", FieldType.I64));
        StructSchema s = schema(FieldSchema.of("b", FieldType.BOOL), FieldSchema.of("u8", FieldType.U8), FieldSchema.of("u16", FieldType.U16),
                FieldSchema.of("u32", FieldType.U32), FieldSchema.of("u64", FieldType.U64), FieldSchema.of("i32", FieldType.I32),
                FieldSchema.of("i64", FieldType.I64), FieldSchema.of("bytes", FieldType.BYTES), FieldSchema.of("str", FieldType.STRING),
                FieldSchema.of("longs", FieldType.LONGS), new FieldSchema("st", FieldType.STRUCT, 2, inner),
                new FieldSchema("li", FieldType.LIST, 1, inner), new FieldSchema("empty", FieldType.LIST, 1, schema()));
        for (long[] v : new long[][] {{0, 0, 0, 0, 0, 0, 0}, {1, 255, 0xffff, 0xffff_ffffL, -1, Integer.MAX_VALUE, Long.MAX_VALUE},
                {1, 1, 1, 1, Long.MIN_VALUE, Integer.MIN_VALUE, Long.MIN_VALUE}}) {
            StateRecord r = StateRecord.builder().putBool("b", v[0] == 1).putLong("u8", v[1]).putLong("u16", v[2]).putLong("u32", v[3])
                    .putLong("u64", v[4]).putLong("i32", v[5]).putLong("i64", v[6]).put("bytes", new byte[] {0, -1, 7})
                    .put("str", "h\u00e9llo \ud83d\ude00").put("longs", new long[] {Long.MIN_VALUE, 0, -1})
                    .put("st", StateRecord.builder().putLong("x", -5).build())
                    .put("li", List.of(StateRecord.builder().putLong("x", 1).build(), StateRecord.builder().putLong("x", 2).build()))
                    .put("empty", List.of(StateRecord.builder().build()))
                    .build();
            assertEquals(r, roundTrip(s, r));
        }
    }

    @Test
    void integersOutOfTheirTypeAreRefusedByField() {
        var e = decodeFails(schema(FieldSchema.of("divisor", FieldType.U16)), new Encoder().varUnsigned(0x10000));
        assertEquals(Kind.MALFORMED, e.kind());
        assertTrue(e.getMessage().contains("t.divisor = 65536 exceeds its maximum 65535"), e.getMessage());
        e = decodeFails(schema(FieldSchema.of("off", FieldType.I32)), new Encoder().varSigned(1L << 31));
        assertTrue(e.getMessage().contains("t.off = 2147483648 does not fit I32"), e.getMessage());
        e = decodeFails(schema(FieldSchema.of("flag", FieldType.BOOL)), new Encoder().u8(2));
        assertTrue(e.getMessage().contains("t.flag: boolean byte is 2"), e.getMessage());
        e = decodeFails(schema(FieldSchema.of("v", FieldType.U32)), new Encoder().u8(0x80).u8(0x80));
        assertTrue(e.getMessage().contains("varint runs past the end"), e.getMessage());
    }

    @Test
    void lengthsAndCountsBeyondTheBlockAreRefusedBeforeAllocating() {
        StructSchema inner = schema(FieldSchema.of("x", FieldType.U8));
        for (FieldSchema f : List.of(FieldSchema.of("fifo", FieldType.BYTES), FieldSchema.of("name", FieldType.STRING),
                FieldSchema.of("msrs", FieldType.LONGS), new FieldSchema("regs", FieldType.LIST, 1, inner))) {
            for (long n : new long[] {Integer.MAX_VALUE, -1L, 1L << 40, 100}) {
                var e = decodeFails(schema(f), new Encoder().varUnsigned(n).u8(1).u8(2));
                assertTrue(e.kind() == Kind.MALFORMED || e.kind() == Kind.LIMIT, e.getMessage());
                assertTrue(e.getMessage().contains("t." + f.name()), e.getMessage());
                assertTrue(e.getMessage().contains("test block at offset"), e.getMessage());
            }
        }
    }

    @Test
    void emptyRecordBombsHitALimit() {
        StructSchema empty = schema();
        StructSchema s = schema(new FieldSchema("outer", FieldType.LIST, 1, schema(new FieldSchema("inner", FieldType.LIST, 1, empty))));
        Encoder e = new Encoder().varUnsigned(1000);
        for (int i = 0; i < 1000; i++) {
            e.varUnsigned(65_536);
        }
        assertEquals(Kind.LIMIT, decodeFails(s, e).kind());
    }

    @Test
    void badUtf8AndTrailingBytesAreMalformed() {
        var e = decodeFails(schema(FieldSchema.of("s", FieldType.STRING)), new Encoder().varUnsigned(2).u8(0xc3).u8(0x28));
        assertTrue(e.getMessage().contains("not valid UTF-8"), e.getMessage());
        e = decodeFails(schema(FieldSchema.of("v", FieldType.U8)), new Encoder().u8(1).u8(2));
        assertTrue(e.getMessage().contains("1 unexpected bytes after record"), e.getMessage());
    }

    @Test
    void malformedSchemasAreRefused() {
        assertSchemaFails(new Encoder().varUnsigned(1).string("a").u8(99).varUnsigned(1), "unknown field type code 99");
        assertSchemaFails(new Encoder().varUnsigned(2).string("a").u8(2).varUnsigned(1).string("a").u8(2).varUnsigned(1), "appears twice");
        assertSchemaFails(new Encoder().varUnsigned(1).string("Bad Name").u8(2).varUnsigned(1), "lower_snake_case");
        assertSchemaFails(new Encoder().varUnsigned(1).string("a").u8(2).varUnsigned(0), "since must be >= 1");
        assertSchemaFails(new Encoder().varUnsigned(1_000_000).string("a"), "field count");
        Encoder deep = new Encoder();
        for (int i = 0; i < 20; i++) {
            deep.varUnsigned(1).string("s").u8(SchemaCodec.code(FieldType.STRUCT)).varUnsigned(1);
        }
        deep.varUnsigned(0);
        assertSchemaFails(deep, "nests deeper than 16");
    }

    private static void assertSchemaFails(Encoder raw, String expected) {
        byte[] b = raw.toBytes();
        var e = assertThrows(SnapshotFormatException.class, () -> SchemaCodec.read(new Decoder(b, 0, b.length, 0, "test block")));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
