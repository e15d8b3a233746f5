package dev.stasis.snapshot.codec;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import dev.stasis.snapshot.state.Where;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link StateRecord} encoded by a {@link StructSchema}: the fields' values in schema order, with no
 * names or tags (the schema, stored beside the record, says what comes next). Decoding needs only the
 * schema from the file, never a device class.
 *
 * <p>Per type: BOOL one byte 0/1; U8 one byte; U16, U32, U64 unsigned varint; I32, I64 zigzag varint;
 * BYTES and STRING varint length then bytes (UTF-8); LONGS varint count then 8-byte little-endian
 * values; STRUCT the nested record; LIST varint count then the records.
 */
public final class RecordCodec {
    /** Records of empty structs take no bytes; this bounds how many a block may claim beyond its size. */
    static final int EMPTY_RECORD_ALLOWANCE = 65_536;

    private RecordCodec() {}

    public static void write(Encoder out, StructSchema schema, StateRecord record, String path) {
        write(out, schema, record, (Object) path);
    }

    /** {@code path} is a String or a {@link Where}: its text is built only for a message. */
    private static void write(Encoder out, StructSchema schema, StateRecord record, Object path) {
        for (String name : record.values().keySet()) {
            if (schema.field(name) == null) {
                throw invalid(path + "." + name + " is not in the schema");
            }
        }
        for (FieldSchema f : schema.fields()) {
            Where where = Where.field(path, f.name());
            if (!record.has(f.name())) {
                throw invalid(where + " is missing from the record");
            }
            writeValue(out, f, record.get(f.name()), where);
        }
    }

    private static void writeValue(Encoder out, FieldSchema f, Object v, Object where) {
        FieldType t = f.type();
        if (t.isInteger()) {
            long l = as(v, Long.class, t, where);
            if (!t.fits(l)) {
                throw invalid(where + " = " + l + " does not fit " + t);
            }
            switch (t) {
                case U8 -> out.u8((int) l);
                case I32, I64 -> out.varSigned(l);
                default -> out.varUnsigned(l);
            }
            return;
        }
        switch (t) {
            case BOOL -> out.bool(as(v, Boolean.class, t, where));
            case BYTES -> out.bytes(as(v, byte[].class, t, where));
            case STRING -> out.string(as(v, String.class, t, where));
            case LONGS -> {
                long[] a = as(v, long[].class, t, where);
                out.varUnsigned(a.length);
                for (long x : a) {
                    out.u64(x);
                }
            }
            case STRUCT -> write(out, f.element(), as(v, StateRecord.class, t, where), where);
            case LIST -> {
                List<?> list = as(v, List.class, t, where);
                out.varUnsigned(list.size());
                int i = 0;
                for (Object e : list) {
                    Where at = Where.element(where, i++);
                    write(out, f.element(), as(e, StateRecord.class, FieldType.STRUCT, at), at);
                }
            }
            default -> throw new AssertionError(t);
        }
    }

    private static <T> T as(Object v, Class<T> type, FieldType t, Object where) {
        if (!type.isInstance(v)) {
            throw invalid(where + " should be " + t + ", is " + v.getClass().getSimpleName());
        }
        return type.cast(v);
    }

    private static SnapshotFormatException invalid(String message) {
        return new SnapshotFormatException(Kind.INVALID_INPUT, message);
    }

    /** Decodes one record by {@code schema}; {@code path} names it in messages (e.g. the section). */
    public static StateRecord read(Decoder in, StructSchema schema, String path) {
        return new Reading(in, in.remaining() + EMPTY_RECORD_ALLOWANCE).record(schema, path);
    }

    /** The smallest encoding of a record of this schema, to bound list counts by the bytes left. */
    static int minBytes(StructSchema schema) {
        int n = 0;
        for (FieldSchema f : schema.fields()) {
            n += f.type() == FieldType.STRUCT ? minBytes(f.element()) : 1;
        }
        return n;
    }

    private static final class Reading {
        private final Decoder in;
        private long recordsLeft;

        Reading(Decoder in, long recordBudget) {
            this.in = in;
            this.recordsLeft = recordBudget;
        }

        StateRecord record(StructSchema schema, Object path) {
            if (--recordsLeft < 0) {
                throw new SnapshotFormatException(Kind.LIMIT, in.at() + ": " + path + ": more nested records than the block can hold");
            }
            StateRecord.Builder b = StateRecord.builder();
            for (FieldSchema f : schema.fields()) {
                b.put(f.name(), value(f, Where.field(path, f.name())));
            }
            return b.build();
        }

        private Object value(FieldSchema f, Object where) {
            FieldType t = f.type();
            return switch (t) {
                case BOOL -> in.bool(where);
                case U8 -> (long) in.u8(where);
                case U16, U32 -> in.varUnsigned(where, t.max);
                case U64 -> in.varUnsigned(where, -1L);
                case I32 -> {
                    long v = in.varSigned(where);
                    if (!t.fits(v)) {
                        throw in.malformed(where + " = " + v + " does not fit I32");
                    }
                    yield v;
                }
                case I64 -> in.varSigned(where);
                case BYTES -> in.bytes(where);
                case STRING -> in.string(where, Integer.MAX_VALUE - 16);
                case LONGS -> {
                    int n = in.count(Where.suffix(where, " count"), 8, Integer.MAX_VALUE / 8);
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = in.u64(where);
                    }
                    yield a;
                }
                case STRUCT -> record(f.element(), where);
                case LIST -> {
                    int min = minBytes(f.element());
                    int n = in.count(Where.suffix(where, " count"), min, min == 0 ? EMPTY_RECORD_ALLOWANCE : Integer.MAX_VALUE);
                    List<StateRecord> list = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        list.add(record(f.element(), Where.element(where, i)));
                    }
                    yield List.copyOf(list);
                }
            };
        }
    }
}
