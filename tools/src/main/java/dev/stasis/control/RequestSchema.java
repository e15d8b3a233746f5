package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

/**
 * The keys one command's request may carry, besides {@code "command"}. {@link #validate} refuses, in one
 * line, a key the command does not know, a missing required one, and a value of the wrong type or range;
 * duplicate keys and text after the object are refused before, by the parser.
 */
public final class RequestSchema {
    private final Map<String, Field> fields = new LinkedHashMap<>();

    private RequestSchema(Field... fields) {
        for (Field f : fields) {
            if (f.name().equals("command") || this.fields.put(f.name(), f) != null) {
                throw new IllegalArgumentException("field " + f.name() + " declared twice");
            }
        }
    }

    public static RequestSchema of(Field... fields) {
        return new RequestSchema(fields);
    }

    /** Checks {@code request} (a JSON object whose "command" is {@code command}); throws with the first problem. */
    Request validate(String command, JsonNode request, String busyWith) {
        for (Iterator<String> keys = request.fieldNames(); keys.hasNext(); ) {
            String key = keys.next();
            if (key.equals("command")) {
                continue;
            }
            Field f = fields.get(key);
            if (f == null) {
                throw new IllegalArgumentException("unknown key \"" + cut(key) + "\" in a " + command + " request; "
                        + (fields.isEmpty() ? "it takes none" : "known: " + String.join(", ", new TreeSet<>(fields.keySet()))));
            }
            String problem = f.check(request.get(key));
            if (problem != null) {
                throw new IllegalArgumentException(command + ": " + problem);
            }
        }
        for (Field f : fields.values()) {
            if (f.required() && !request.has(f.name())) {
                throw new IllegalArgumentException(command + " needs \"" + f.name() + "\"");
            }
        }
        return new Request(command, request, busyWith);
    }

    private static String cut(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
