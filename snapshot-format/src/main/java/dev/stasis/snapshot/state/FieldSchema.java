package dev.stasis.snapshot.state;

import java.util.Objects;

/**
 * One field of a state schema: its name, type, the section version it arrived in, and for
 * {@link FieldType#STRUCT}/{@link FieldType#LIST} the schema of the nested records.
 */
public record FieldSchema(String name, FieldType type, int since, StructSchema element) {
    public FieldSchema {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        if (!isSnakeCase(name)) {
            throw new IllegalArgumentException("field name must be lower_snake_case: '" + name + "'");
        }
        if (since < 1) {
            throw new IllegalArgumentException("field " + name + ": since must be >= 1, got " + since);
        }
        if (type.isNested() != (element != null)) {
            throw new IllegalArgumentException("field " + name + ": " + type + (type.isNested() ? " needs" : " takes no") + " element schema");
        }
    }

    /**
     * {@code [a-z][a-z0-9_]*}, checked by hand: every schema decoded (each section of a file or a migration's
     * stop-and-copy) builds its fields anew, and compiling a regular expression per field cost milliseconds there.
     */
    private static boolean isSnakeCase(String name) {
        if (name.isEmpty() || name.charAt(0) < 'a' || name.charAt(0) > 'z') {
            return false;
        }
        for (int i = 1; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_')) {
                return false;
            }
        }
        return true;
    }

    public static FieldSchema of(String name, FieldType type) {
        return new FieldSchema(name, type, 1, null);
    }
}
