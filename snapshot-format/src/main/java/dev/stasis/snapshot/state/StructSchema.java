package dev.stasis.snapshot.state;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** An ordered list of uniquely named fields: the shape of a section, or of a nested record. */
public record StructSchema(List<FieldSchema> fields) {
    public StructSchema {
        fields = List.copyOf(fields);
        Set<String> names = new HashSet<>();
        for (FieldSchema f : fields) {
            if (!names.add(f.name())) {
                throw new IllegalArgumentException("field '" + f.name() + "' appears twice");
            }
        }
    }

    public FieldSchema field(String name) {
        for (FieldSchema f : fields) {
            if (f.name().equals(name)) {
                return f;
            }
        }
        return null;
    }
}
