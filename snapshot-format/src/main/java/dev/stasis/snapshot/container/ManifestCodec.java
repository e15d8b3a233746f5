package dev.stasis.snapshot.container;

import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The MANIFEST block: creation time (i64 milliseconds since the epoch), stasis version, host identity,
 * the platform's properties, then the list of sections (name, instance, version) in file order, which a
 * reader checks against the SECTION blocks.
 */
final class ManifestCodec {
    static final int MAX_STRING = 64 << 10;
    static final int MAX_PROPERTIES = 4096;

    /** A section as the manifest lists it. */
    record Entry(String name, int instance, int version) {}

    record Decoded(Manifest manifest, List<Entry> sections) {}

    private ManifestCodec() {}

    static byte[] encode(Manifest m, List<Entry> sections) {
        Encoder out = new Encoder();
        out.u64(m.created().toEpochMilli()).string(m.stasisVersion());
        HostIdentity h = m.host();
        out.string(h.hostname()).string(h.kernelRelease()).string(h.cpuVendor()).string(h.cpuModel());
        out.varUnsigned(m.properties().size());
        m.properties().forEach((k, v) -> out.string(k).string(v));
        out.varUnsigned(sections.size());
        for (Entry e : sections) {
            out.string(e.name()).varUnsigned(e.instance()).varUnsigned(e.version());
        }
        return out.toBytes();
    }

    /** @param tolerateTrailing bytes after the known fields are a newer minor's additions */
    static Decoded decode(Decoder in, boolean tolerateTrailing) {
        long millis = in.u64("creation time");
        String version = in.string("stasis version", MAX_STRING);
        HostIdentity host = new HostIdentity(in.string("hostname", MAX_STRING), in.string("kernel release", MAX_STRING),
                in.string("cpu vendor", MAX_STRING), in.string("cpu model", MAX_STRING));
        int n = in.count("property count", 2, MAX_PROPERTIES);
        Map<String, String> props = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            String key = in.string("property " + i + " key", MAX_STRING);
            if (props.put(key, in.string("property " + key, MAX_STRING)) != null) {
                throw in.malformed("property '" + key + "' appears twice");
            }
        }
        int s = in.count("section count", 4, Layout.MAX_SECTIONS);
        List<Entry> sections = new ArrayList<>(s);
        for (int i = 0; i < s; i++) {
            sections.add(new Entry(in.string("section " + i + " name", 128),
                    in.varInt("section " + i + " instance", Integer.MAX_VALUE),
                    in.varInt("section " + i + " version", Integer.MAX_VALUE)));
        }
        if (!tolerateTrailing) {
            in.end("the manifest");
        }
        Instant created;
        try {
            created = Instant.ofEpochMilli(millis);
        } catch (RuntimeException e) {
            throw in.malformed("creation time " + millis + " ms is out of range");
        }
        return new Decoded(new Manifest(created, version, host, props), sections);
    }
}
