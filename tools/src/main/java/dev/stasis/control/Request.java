package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A request its command's {@link RequestSchema} accepted: every value present has the declared type and
 * range, so the getters only pick a default for what is absent.
 *
 * @param busyWith what holds the VM's state-changing commands now ({@link CommandOwner}), or null
 */
public record Request(String command, JsonNode json, String busyWith) {
    public boolean has(String key) {
        return json.has(key);
    }

    public String string(String key, String otherwise) {
        return json.has(key) ? json.get(key).textValue() : otherwise;
    }

    public boolean bool(String key, boolean otherwise) {
        return json.has(key) ? json.get(key).booleanValue() : otherwise;
    }

    public long integer(String key, long otherwise) {
        return json.has(key) ? json.get(key).longValue() : otherwise;
    }
}
