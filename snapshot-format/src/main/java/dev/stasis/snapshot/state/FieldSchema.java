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
        if (name.isEmpty() || !name.matches("[a-z][a-z0-9_]*")) {
            throw new IllegalArgumentException("field name must be lower_snake_case: '" + name + "'");
        }
        if (since < 1) {
            throw new IllegalArgumentException("field " + name + ": since must be >= 1, got " + since);
        }
        if (type.isNested() != (element != null)) {
            throw new IllegalArgumentException("field " + name + ": " + type + (type.isNested() ? " needs" : " takes no") + " element schema");
        }
    }

    public static FieldSchema of(String name, FieldType type) {
        return new FieldSchema(name, type, 1, null);
    }
}
