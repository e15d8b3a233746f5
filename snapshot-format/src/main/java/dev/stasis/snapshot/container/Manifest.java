package dev.stasis.snapshot.container;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * What a snapshot is: when and by which stasis it was taken, on which host, and the platform's own
 * properties (vCPU count, memory size, TSC kHz, ...) as text, in the order given. The list of sections is
 * added by the writer.
 *
 * @param created truncated to milliseconds, the precision the file keeps
 */
public record Manifest(Instant created, String stasisVersion, HostIdentity host, Map<String, String> properties) {
    /**
     * Since format 1.2: the property listing, comma-separated as {@code name#instance}, the sections a reader
     * that does not know them may skip. A reader refuses any other section it does not know.
     */
    public static final String OPTIONAL_SECTIONS = "optional_sections";

    public Manifest {
        created = Objects.requireNonNull(created, "created").truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        Objects.requireNonNull(stasisVersion, "stasisVersion");
        Objects.requireNonNull(host, "host");
        properties = Collections.unmodifiableMap(new LinkedHashMap<>(properties));
    }

    /** Whether the writer marked section {@code name#instance} optional ({@link #OPTIONAL_SECTIONS}). */
    public boolean optional(String name, int instance) {
        String list = properties.get(OPTIONAL_SECTIONS);
        return list != null && java.util.Arrays.asList(list.split(",")).contains(name + "#" + instance);
    }

    /** A manifest for now, on this host. */
    public static Manifest of(String stasisVersion, Map<String, String> properties) {
        return new Manifest(Instant.now(), stasisVersion, HostIdentity.current(), properties);
    }
}
