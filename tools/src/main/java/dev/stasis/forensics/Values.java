package dev.stasis.forensics;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import java.util.List;

/**
 * Generic state values (as {@link StateRecord} holds them) for people and machines, typed by the file's own
 * schema where there is one: I32/I64 are signed, every other integer unsigned (U64 above 2^63 is a negative long).
 */
public final class Values {
    private Values() {}

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    /** One value on one line: integers in hex above 9 (decimal for signed types), byte strings by length. */
    public static String text(Object value, FieldSchema field) {
        if (value == null) {
            return "(absent)";
        }
        if (value instanceof Long l) {
            if (signed(field)) {
                return Long.toString(l);
            }
            return l >= 0 && l < 10 ? Long.toString(l) : "0x" + Long.toHexString(l);
        }
        if (value instanceof byte[] b) {
            return b.length + " bytes";
        }
        if (value instanceof long[] l) {
            StringBuilder s = new StringBuilder("[");
            for (int i = 0; i < l.length; i++) {
                s.append(i == 0 ? "" : ", ").append(text(l[i], null));
            }
            return s.append(']').toString();
        }
        if (value instanceof List<?> list) {
            return list.size() + " entries";
        }
        if (value instanceof String s) {
            return '"' + s + '"';
        }
        return String.valueOf(value);
    }

    private static boolean signed(FieldSchema field) {
        return field != null && (field.type() == FieldType.I32 || field.type() == FieldType.I64);
    }
}
