package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One key a control request may carry: its JSON type, whether it must be there, and for integers the
 * range. {@link #check} accepts a value only of exactly that type: no string for a number, no 1.9 or "4"
 * for an integer, no 2 for a boolean, nothing outside the range (so nothing wraps).
 */
public record Field(String name, Type type, boolean required, long min, long max) {
    public enum Type { STRING, BOOLEAN, INTEGER }

    public static Field string(String name, boolean required) {
        return new Field(name, Type.STRING, required, 0, 0);
    }

    public static Field bool(String name) {
        return new Field(name, Type.BOOLEAN, false, 0, 0);
    }

    public static Field integer(String name, long min, long max) {
        return new Field(name, Type.INTEGER, false, min, max);
    }

    /** The error for {@code value} in one line, or null when it fits. */
    String check(JsonNode value) {
        return switch (type) {
            case STRING -> value.isTextual() && !value.textValue().isEmpty() ? null : expected("a non-empty string", value);
            case BOOLEAN -> value.isBoolean() ? null : expected("true or false", value);
            case INTEGER -> value.isIntegralNumber() && value.canConvertToLong() && value.longValue() >= min && value.longValue() <= max
                    ? null : expected("an integer from " + min + " to " + max, value);
        };
    }

    private String expected(String what, JsonNode got) {
        String text = got.toString();
        return "\"" + name + "\" must be " + what + ", got " + (text.length() > 40 ? text.substring(0, 40) + "..." : text);
    }
}
