package dev.stasis.snapshot.inspect;

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

/**
 * State records as JSON, by their schema alone (no device class): the one rendering {@code inspect --json},
 * ELF core notes and {@code diff --json} share. Integers are JSON numbers (U64 and 64-bit words unsigned,
 * I32/I64 signed); byte strings are {@code {"length": n, "hex": "..."}}; structs are objects, lists arrays.
 */
public final class RecordJson {
    private RecordJson() {}

    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;

    /** Every field of {@code record}; {@code fullBytes} false shortens long byte strings to a prefix. */
    public static ObjectNode record(StructSchema schema, StateRecord record, boolean fullBytes) {
        ObjectNode o = JSON.objectNode();
        for (FieldSchema f : schema.fields()) {
            o.set(f.name(), value(record.get(f.name()), f, fullBytes));
        }
        return o;
    }

    /** One field's value; {@code field} may be null, then the value's own kind decides. */
    public static JsonNode value(Object value, FieldSchema field, boolean fullBytes) {
        if (value instanceof Long l) {
            boolean signed = field != null && (field.type() == FieldType.I32 || field.type() == FieldType.I64);
            return signed || l >= 0 ? JSON.numberNode(l) : JSON.numberNode(new BigInteger(Long.toUnsignedString(l)));
        }
        if (value instanceof Boolean b) {
            return JSON.booleanNode(b);
        }
        if (value instanceof String s) {
            return JSON.textNode(s);
        }
        if (value instanceof byte[] b) {
            ObjectNode n = JSON.objectNode();
            n.put("length", b.length);
            n.put("hex", fullBytes ? HexFormat.of().formatHex(b) : Values.bytes(b, false));
            return n;
        }
        if (value instanceof long[] words) {
            ArrayNode a = JSON.arrayNode();
            for (long w : words) {
                a.add(w >= 0 ? JSON.numberNode(w) : JSON.numberNode(new BigInteger(Long.toUnsignedString(w))));
            }
            return a;
        }
        StructSchema element = field == null ? null : field.element();
        if (value instanceof StateRecord r) {
            return element == null ? JSON.textNode(r.toString()) : record(element, r, fullBytes);
        }
        if (value instanceof List<?> list) {
            ArrayNode a = JSON.arrayNode();
            for (Object item : list) {
                a.add(value(item, field == null ? null : new FieldSchema(field.name(), FieldType.STRUCT, field.since(), element), fullBytes));
            }
            return a;
        }
        return JSON.textNode(String.valueOf(value));
    }
}
