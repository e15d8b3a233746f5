package dev.stasis.snapshot.container;

import dev.stasis.snapshot.state.StructSchema;
import java.util.regex.Pattern;

/** A section as the file describes it: name, instance (e.g. the vCPU index), version and schema. */
public record SectionInfo(String name, int instance, int version, StructSchema schema) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}");

    static boolean validName(String name) {
        return NAME.matcher(name).matches();
    }

    /** "name#instance", how messages and inspect name a section. */
    public String label() {
        return name + "#" + instance;
    }
}
