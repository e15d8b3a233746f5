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
            long total = (mem.storedPages() + mem.referencedPages() + mem.zeroPages()) * mem.pageSize();
            line(out, 0, "memory (" + mem.ranges().size() + " ranges, " + Values.size(total) + ", page " + mem.pageSize()
                    + ", chunk " + Values.size(mem.chunkSize()) + ")");
            for (MemorySummary.Range r : mem.ranges()) {
                line(out, 1, r.range() + "  " + Values.size(r.range().size()) + "  " + r.chunks() + " chunks  pages: "
                        + r.storedPages() + " stored, " + (r.referencedPages() > 0 ? r.referencedPages() + " duplicate, " : "") + r.zeroPages() + " zero  " + Values.size(r.fileBytes()) + " in the file");
            }
            long stored = mem.storedPages() * mem.pageSize();
            line(out, 1, "total: " + mem.chunks() + " chunks, " + mem.storedPages() + " pages stored (" + Values.size(stored) + "), "
                    + (mem.referencedPages() > 0 ? mem.referencedPages() + " duplicates of stored pages, " : "") + mem.zeroPages() + " zero; " + Values.size(mem.fileBytes()) + " in the file"
                    + (stored > 0 ? String.format(" (%.1f%% of the stored pages)", 100.0 * mem.fileBytes() / stored) : ""));
        }
        for (SnapshotReader.DiskContent d : reader.disks()) {
            Totals t = Totals.of(reader.diskChunkSummaries(d.id()));
            line(out, 0, "disk " + d.id() + " content (" + Values.size(d.size()) + ")  " + t.chunks + " chunks  pages: " + t.stored + " stored, "
                    + (t.referenced > 0 ? t.referenced + " duplicate, " : "") + t.zero + " zero  " + Values.size(t.fileBytes) + " in the file");
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
            n.set("fields", RecordJson.record(s.schema(), reader.record(s.name(), s.instance()), full));
        }
        MemorySummary mem = MemorySummary.of(reader);
        if (mem != null) {
            ObjectNode n = root.putObject("memory");
            n.put("page_size", mem.pageSize());
            n.put("chunk_size", mem.chunkSize());
            n.put("chunks", mem.chunks());
            n.put("stored_pages", mem.storedPages());
            n.put("referenced_pages", mem.referencedPages());
            n.put("zero_pages", mem.zeroPages());
            n.put("file_bytes", mem.fileBytes());
            ArrayNode ranges = n.putArray("ranges");
            for (MemorySummary.Range r : mem.ranges()) {
                ObjectNode rn = ranges.addObject();
                rn.put("gpa", r.range().gpa());
                rn.put("size", r.range().size());
                rn.put("chunks", r.chunks());
                rn.put("stored_pages", r.storedPages());
                rn.put("referenced_pages", r.referencedPages());
                rn.put("zero_pages", r.zeroPages());
                rn.put("compressed_chunks", r.compressedChunks());
                rn.put("file_bytes", r.fileBytes());
            }
        }
        if (!reader.disks().isEmpty()) {
            ArrayNode disks = root.putArray("disks");
            for (SnapshotReader.DiskContent d : reader.disks()) {
                Totals t = Totals.of(reader.diskChunkSummaries(d.id()));
                disks.addObject().put("id", d.id()).put("size", d.size()).put("chunks", t.chunks).put("stored_pages", t.stored)
                        .put("referenced_pages", t.referenced).put("zero_pages", t.zero).put("file_bytes", t.fileBytes);
            }
        }
        return root;
    }

    /** A disk's chunks summed up. */
    private record Totals(int chunks, long stored, long referenced, long zero, long fileBytes) {
        static Totals of(List<SnapshotReader.ChunkSummary> chunks) {
            long stored = 0, referenced = 0, zero = 0, bytes = 0;
            for (SnapshotReader.ChunkSummary c : chunks) {
                stored += c.storedPages();
                referenced += c.referencedPages();
                zero += c.pages() - c.storedPages() - c.referencedPages();
                bytes += c.blockBytes();
            }
            return new Totals(chunks.size(), stored, referenced, zero, bytes);
        }
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

}
