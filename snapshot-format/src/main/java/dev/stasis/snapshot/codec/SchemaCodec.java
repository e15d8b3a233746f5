package dev.stasis.snapshot.codec;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StructSchema;
import dev.stasis.snapshot.state.Where;
import java.util.ArrayList;
import java.util.List;

/**
 * The schema of a section as it travels in the file: a varint field count, then per field its name,
 * a type code, the version it arrived in, and for STRUCT/LIST the element schema, recursively.
 * Type codes are part of the format and never change meaning; new types take new codes.
 */
public final class SchemaCodec {
    public static final int MAX_DEPTH = 16;
    public static final int MAX_FIELDS = 4096;
    public static final int MAX_NAME_BYTES = 128;

    private SchemaCodec() {}

    public static int code(FieldType t) {
        return switch (t) {
            case BOOL -> 1;
            case U8 -> 2;
            case U16 -> 3;
            case U32 -> 4;
            case U64 -> 5;
            case I32 -> 6;
            case I64 -> 7;
            case BYTES -> 8;
            case STRING -> 9;
            case LONGS -> 10;
            case STRUCT -> 11;
            case LIST -> 12;
        };
    }

    static FieldType type(int code) {
        for (FieldType t : FieldType.values()) {
            if (code(t) == code) {
                return t;
            }
        }
        return null;
    }

    public static void write(Encoder out, StructSchema schema) {
        write(out, schema, 1);
    }

    private static void write(Encoder out, StructSchema schema, int depth) {
        if (depth > MAX_DEPTH || schema.fields().size() > MAX_FIELDS) {
            throw new SnapshotFormatException(Kind.LIMIT, "schema nests deeper than " + MAX_DEPTH + " or has more than " + MAX_FIELDS + " fields");
        }
        out.varUnsigned(schema.fields().size());
        for (FieldSchema f : schema.fields()) {
            out.string(f.name()).u8(code(f.type())).varUnsigned(f.since());
            if (f.type().isNested()) {
                write(out, f.element(), depth + 1);
            }
        }
    }

    public static StructSchema read(Decoder in) {
        return read(in, 1, "schema");
    }

    private static StructSchema read(Decoder in, int depth, Object path) {
        if (depth > MAX_DEPTH) {
            throw new SnapshotFormatException(Kind.LIMIT, in.at() + ": " + path + " nests deeper than " + MAX_DEPTH + " levels");
        }
        // A field takes at least 4 bytes: name length, one name byte, type code, since.
        int n = in.count(Where.suffix(path, " field count"), 4, MAX_FIELDS);
        List<FieldSchema> fields = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            String name = in.string(Where.numbered(path, " field ", i, " name"), MAX_NAME_BYTES);
            Where field = Where.field(path, name);
            int code = in.u8(Where.suffix(field, " type"));
            FieldType t = type(code);
            if (t == null) {
                throw in.malformed(path + "." + name + ": unknown field type code " + code);
            }
            int since = in.varInt(Where.suffix(field, " since"), Integer.MAX_VALUE);
            StructSchema element = t.isNested() ? read(in, depth + 1, field) : null;
            try {
                fields.add(new FieldSchema(name, t, since, element));
            } catch (IllegalArgumentException e) {
                throw in.malformed(path + ": " + e.getMessage());
            }
        }
        try {
            return new StructSchema(fields);
        } catch (IllegalArgumentException e) {
            throw in.malformed(path + ": " + e.getMessage());
        }
    }
}
