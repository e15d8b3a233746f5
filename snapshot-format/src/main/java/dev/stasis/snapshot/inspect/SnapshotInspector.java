package dev.stasis.snapshot.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.snapshot.container.HostIdentity;
import dev.stasis.snapshot.container.Manifest;
import dev.stasis.snapshot.container.SectionInfo;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.io.IOException;
import java.math.BigInteger;
import java.util.HexFormat;
import java.util.List;

/**
 * What {@code stasis inspect} shows: manifest, every section with every field by name, and a memory
 * summary, as text or JSON. Works from the file alone, through the generic reader and the file's schemas.
 */
public final class SnapshotInspector {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final SnapshotReader reader;
    private final boolean full;

    /** @param full every byte of byte arrays and every value of long arrays, not just their start */
    public SnapshotInspector(SnapshotReader reader, boolean full) {
        this.reader = reader;
        this.full = full;
    }

    // ---- text ----

    public String text() throws IOException {
        StringBuilder out = new StringBuilder();
        Manifest m = reader.manifest();
        HostIdentity h = m.host();
        line(out, 0, "snapshot " + reader.path());
        line(out, 1, "format      " + reader.formatVersion());
        line(out, 1, "size        " + reader.size() + " bytes (" + Values.size(reader.size()) + "), " + reader.blockCount() + " blocks");
        line(out, 1, "created     " + m.created());
        line(out, 1, "stasis      " + m.stasisVersion());
        line(out, 1, "host        " + h.hostname() + ", kernel " + h.kernelRelease());
        line(out, 1, "cpu         " + h.cpuVendor() + ", " + h.cpuModel());
        if (!m.properties().isEmpty()) {
            line(out, 1, "properties");
            m.properties().forEach((k, v) -> line(out, 2, k + " = " + v));
        }
        List<SectionInfo> sections = reader.sections();
        line(out, 0, "sections (" + sections.size() + ")");
        for (SectionInfo s : sections) {
            line(out, 1, s.label() + "  version " + s.version() + "  (" + s.schema().fields().size() + " fields)");
            record(out, 2, s.schema(), reader.record(s.name(), s.instance()));
        }
        MemorySummary mem = MemorySummary.of(reader);
        if (mem == null) {
            line(out, 0, "memory: none");
        } else {
            long total = (mem.storedPages() + mem.zeroPages()) * mem.pageSize();
            line(out, 0, "memory (" + mem.ranges().size() + " ranges, " + Values.size(total) + ", page " + mem.pageSize()
                    + ", chunk " + Values.size(mem.chunkSize()) + ")");
            for (MemorySummary.Range r : mem.ranges()) {
                line(out, 1, r.range() + "  " + Values.size(r.range().size()) + "  " + r.chunks() + " chunks  pages: "
                        + r.storedPages() + " stored, " + r.zeroPages() + " zero  " + Values.size(r.fileBytes()) + " in the file");
            }
            long stored = mem.storedPages() * mem.pageSize();
            line(out, 1, "total: " + mem.chunks() + " chunks, " + mem.storedPages() + " pages stored (" + Values.size(stored) + "), "
                    + mem.zeroPages() + " zero; " + Values.size(mem.fileBytes()) + " in the file"
                    + (stored > 0 ? String.format(" (%.1f%% of the stored pages)", 100.0 * mem.fileBytes() / stored) : ""));
        }
        return out.toString();
    }

    private void record(StringBuilder out, int depth, StructSchema schema, StateRecord r) {
        for (FieldSchema f : schema.fields()) {
            Object v = r.get(f.name());
            String head = f.name() + ": " + f.type() + (f.since() > 1 ? " (since v" + f.since() + ")" : "");
            FieldType t = f.type();
            if (t.isInteger()) {
                line(out, depth, head + " = " + Values.integer(t, (Long) v));
            } else {
                switch (t) {
                    case BOOL -> line(out, depth, head + " = " + v);
                    case STRING -> line(out, depth, head + " = " + Values.quoted((String) v));
                    case BYTES -> line(out, depth, head + "[" + ((byte[]) v).length + "] = " + Values.bytes((byte[]) v, full));
                    case LONGS -> line(out, depth, head + "[" + ((long[]) v).length + "] = " + Values.longs((long[]) v, full));
                    case STRUCT -> {
                        line(out, depth, head);
                        record(out, depth + 1, f.element(), (StateRecord) v);
                    }
                    case LIST -> {
                        List<?> list = (List<?>) v;
                        line(out, depth, head + "[" + list.size() + "]");
                        for (int i = 0; i < list.size(); i++) {
                            line(out, depth + 1, "[" + i + "]");
                            record(out, depth + 2, f.element(), (StateRecord) list.get(i));
                        }
                    }
                    default -> throw new AssertionError(t);
                }
            }
        }
    }

    private static void line(StringBuilder out, int depth, String text) {
        out.append("  ".repeat(depth)).append(text).append('\n');
    }

    // ---- JSON ----

    public String jsonText() throws IOException {
        return JSON.writeValueAsString(json());
    }

    public JsonNode json() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("file", reader.path().toString());
        root.put("format", reader.formatVersion().toString());
        root.put("size", reader.size());
        root.put("blocks", reader.blockCount());
        Manifest m = reader.manifest();
        ObjectNode man = root.putObject("manifest");
        man.put("created", m.created().toString());
        man.put("stasis_version", m.stasisVersion());
        ObjectNode host = man.putObject("host");
        host.put("hostname", m.host().hostname());
        host.put("kernel_release", m.host().kernelRelease());
        host.put("cpu_vendor", m.host().cpuVendor());
        host.put("cpu_model", m.host().cpuModel());
        ObjectNode props = man.putObject("properties");
        m.properties().forEach(props::put);
        ArrayNode sections = root.putArray("sections");
        for (SectionInfo s : reader.sections()) {
            ObjectNode n = sections.addObject();
            n.put("name", s.name());
            n.put("instance", s.instance());
            n.put("version", s.version());
            n.set("schema", schema(s.schema()));
            n.set("fields", record(s.schema(), reader.record(s.name(), s.instance())));
        }
        MemorySummary mem = MemorySummary.of(reader);
        if (mem != null) {
            ObjectNode n = root.putObject("memory");
            n.put("page_size", mem.pageSize());
            n.put("chunk_size", mem.chunkSize());
            n.put("chunks", mem.chunks());
            n.put("stored_pages", mem.storedPages());
            n.put("zero_pages", mem.zeroPages());
            n.put("file_bytes", mem.fileBytes());
            ArrayNode ranges = n.putArray("ranges");
            for (MemorySummary.Range r : mem.ranges()) {
                ObjectNode rn = ranges.addObject();
                rn.put("gpa", r.range().gpa());
                rn.put("size", r.range().size());
                rn.put("chunks", r.chunks());
                rn.put("stored_pages", r.storedPages());
                rn.put("zero_pages", r.zeroPages());
                rn.put("compressed_chunks", r.compressedChunks());
                rn.put("file_bytes", r.fileBytes());
            }
        }
        return root;
    }

    private static ArrayNode schema(StructSchema s) {
        ArrayNode a = JSON.createArrayNode();
        for (FieldSchema f : s.fields()) {
            ObjectNode n = a.addObject();
            n.put("name", f.name());
            n.put("type", f.type().name());
            n.put("since", f.since());
            if (f.element() != null) {
                n.set("element", schema(f.element()));
            }
        }
        return a;
    }

    private ObjectNode record(StructSchema schema, StateRecord r) {
        ObjectNode n = JSON.createObjectNode();
        for (FieldSchema f : schema.fields()) {
            Object v = r.get(f.name());
            switch (f.type()) {
                case U64 -> n.put(f.name(), new BigInteger(Long.toUnsignedString((Long) v)));
                case U8, U16, U32, I32, I64 -> n.put(f.name(), (Long) v);
                case BOOL -> n.put(f.name(), (Boolean) v);
                case STRING -> n.put(f.name(), (String) v);
                case BYTES -> {
                    byte[] b = (byte[]) v;
                    ObjectNode bn = n.putObject(f.name());
                    bn.put("length", b.length);
                    bn.put("hex", full ? HexFormat.of().formatHex(b) : Values.bytes(b, false));
                }
                case LONGS -> {
                    ArrayNode a = n.putArray(f.name());
                    for (long x : (long[]) v) {
                        a.add(new BigInteger(Long.toUnsignedString(x)));
                    }
                }
                case STRUCT -> n.set(f.name(), record(f.element(), (StateRecord) v));
                case LIST -> {
                    ArrayNode a = n.putArray(f.name());
                    for (Object e : (List<?>) v) {
                        a.add(record(f.element(), (StateRecord) e));
                    }
                }
            }
        }
        return n;
    }
}
