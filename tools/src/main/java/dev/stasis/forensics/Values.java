package dev.stasis.forensics;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Generic state values (as {@link StateRecord} holds them) for people and machines, typed by the file's own
 * schema where there is one: I32/I64 are signed, every other integer unsigned (U64 above 2^63 is a negative long).
 */
public final class Values {
    private Values() {}

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    public static ObjectNode toJson(StateRecord record, StructSchema schema) {
        ObjectNode o = JSON.objectNode();
        for (Map.Entry<String, Object> e : record.values().entrySet()) {
            FieldSchema f = schema == null ? null : schema.field(e.getKey());
            o.set(e.getKey(), toJson(e.getValue(), f));
        }
        return o;
    }

    @SuppressWarnings("unchecked")
    public static JsonNode toJson(Object value, FieldSchema field) {
        StructSchema element = field == null ? null : field.element();
        if (value instanceof Long l) {
            return signed(field) || l >= 0 ? JSON.numberNode(l) : JSON.numberNode(new BigInteger(Long.toUnsignedString(l)));
        }
        if (value instanceof Boolean b) {
            return JSON.booleanNode(b);
        }
        if (value instanceof String s) {
            return JSON.textNode(s);
        }
        if (value instanceof byte[] bytes) {
            return JSON.textNode(HexFormat.of().formatHex(bytes));
        }
        if (value instanceof long[] longs) {
            ArrayNode a = JSON.arrayNode();
            for (long l : longs) {
                a.add(l >= 0 ? JSON.numberNode(l) : JSON.numberNode(new BigInteger(Long.toUnsignedString(l))));
            }
            return a;
        }
        if (value instanceof StateRecord r) {
            return toJson(r, element);
        }
        if (value instanceof List<?> list) {
            ArrayNode a = JSON.arrayNode();
            for (Object item : list) {
                a.add(toJson((StateRecord) item, element));
            }
            return a;
        }
        return JSON.textNode(String.valueOf(value));
    }

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
