package dev.stasis.snapshot.inspect;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.HostIdentity;
import dev.stasis.snapshot.container.Manifest;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.container.SnapshotWriter;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.FieldType;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file alone is enough: sections written from plain schemas and records (no state class exists for
 * them anywhere) come back by name through the generic reader, and inspect shows every field.
 */
class GenericDecodeTest {
    static final StructSchema ENTRY = new StructSchema(List.of(FieldSchema.of("msr_index", FieldType.U32), FieldSchema.of("msr_value", FieldType.U64)));
    static final StructSchema LAPIC = new StructSchema(List.of(
            FieldSchema.of("enabled", FieldType.BOOL), FieldSchema.of("lvt_timer", FieldType.U32), FieldSchema.of("timer_divide", FieldType.U8),
            FieldSchema.of("isr_bits", FieldType.U16), FieldSchema.of("tsc_offset", FieldType.I64), FieldSchema.of("skew", FieldType.I32),
            FieldSchema.of("remaining_count", FieldType.U64), FieldSchema.of("regs_page", FieldType.BYTES), FieldSchema.of("model", FieldType.STRING),
            FieldSchema.of("xsave_words", FieldType.LONGS),
            new FieldSchema("pending", FieldType.STRUCT, 1, new StructSchema(List.of(FieldSchema.of("vector", FieldType.U8)))),
            new FieldSchema("msr_list", FieldType.LIST, 2, ENTRY)));

    @TempDir
    Path dir;
    Path file;

    static StateRecord lapic(int cpu) {
        List<StateRecord> msrs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            msrs.add(StateRecord.builder().putLong("msr_index", 0xc000_0080L + i).putLong("msr_value", -1L - i).build());
        }
        byte[] page = new byte[1024];
        page[0x20] = (byte) cpu;
        return StateRecord.builder().putBool("enabled", true).putLong("lvt_timer", 0x2_00ecL).putLong("timer_divide", 3)
                .putLong("isr_bits", 0x8000).putLong("tsc_offset", -123_456_789L).putLong("skew", -7).putLong("remaining_count", -1L)
                .put("regs_page", page).put("model", "x2apic \"on\"\n").put("xsave_words", new long[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
                .put("pending", StateRecord.builder().putLong("vector", 0xec).build()).put("msr_list", msrs).build();
    }

    @BeforeEach
    void write() throws Exception {
        file = dir.resolve("generic.snap");
        ByteBuffer ram = ByteBuffer.allocateDirect(1 << 20);
        for (int i = 0; i < 4096 * 5; i++) {
            ram.put(i, (byte) (i * 31));
        }
        GuestRam source = new GuestRam() {
            public List<RamRange> ranges() { return List.of(new RamRange(0x1_0000_0000L, 1 << 20)); }
            public ByteBuffer window(long gpa, int length) { return ram.slice((int) (gpa - 0x1_0000_0000L), length); }
        };
        try (SnapshotWriter w = SnapshotWriter.create(file, WriterOptions.defaults().withChunkSize(256 << 10))) {
            w.manifest(new Manifest(Instant.parse("2026-01-02T03:04:05Z"), "0.1.0", new HostIdentity("h", "6.1", "AuthenticAMD", "EPYC"),
                    Map.of("vcpus", "2")));
            w.section("lapic", 0, 2, LAPIC, lapic(0));
            w.section("lapic", 1, 2, LAPIC, lapic(1));
            w.memory(source);
            w.commit();
        }
    }

    @Test
    void sectionsDecodeByNameThroughTheFileSchemaAlone() throws Exception {
        try (SnapshotReader r = SnapshotReader.open(file)) {
            assertEquals(LAPIC, r.sections().get(1).schema());
            StateRecord rec = r.record("lapic", 1);
            assertEquals(lapic(1), rec);
            assertEquals(0x2_00ecL, rec.getLong("lvt_timer"));
            assertEquals(-1L, rec.getLong("remaining_count"));
            assertEquals(1, rec.getBytes("regs_page")[0x20]);
            assertEquals(0xecL, rec.getStruct("pending").getLong("vector"));
            assertEquals(0xc000_0082L, rec.getList("msr_list").get(2).getLong("msr_index"));
        }
    }

    @Test
    void inspectShowsEveryFieldInTextAndJson() throws Exception {
        try (SnapshotReader r = SnapshotReader.open(file)) {
            SnapshotInspector inspector = new SnapshotInspector(r, false);
            String text = inspector.text();
            JsonNode json = new ObjectMapper().readTree(inspector.jsonText());
            for (String name : fieldNames(LAPIC)) {
                assertTrue(text.contains(name + ": "), name + " in\n" + text);
                assertTrue(json.findValue(name) != null, name + " in JSON");
            }
            assertTrue(text.contains("lapic#1  version 2"), text);
            assertTrue(text.contains("lvt_timer: U32 = 131308 (0x200ec)"), text);
            assertTrue(text.contains("remaining_count: U64 = 18446744073709551615 (0xffffffffffffffff)"), text);
            assertTrue(text.contains("model: STRING = \"x2apic \\\"on\\\"\\n\""), text);
            assertTrue(text.contains("msr_list: LIST (since v2)[3]"), text);
            assertTrue(text.contains("regs_page: BYTES[1024] = 00000000000000000000000000000000..."), text);
            assertTrue(text.contains("0x100000000..0x100100000"), text);
            assertTrue(text.contains("5 pages stored"), text);
            assertTrue(text.contains("vcpus = 2"), text);
            assertEquals("18446744073709551615", json.at("/sections/0/fields/remaining_count").asText());
            assertEquals(5, json.at("/memory/stored_pages").asInt());
            assertEquals(251, json.at("/memory/zero_pages").asInt());
            assertEquals("U64", json.at("/sections/0/schema/6/type").asText());
            assertEquals(1024, json.at("/sections/0/fields/regs_page/length").asInt());

            String fullText = new SnapshotInspector(r, true).text();
            assertTrue(fullText.contains("0x9, 0xa]"), "--full shows every long");
            assertTrue(fullText.length() > text.length() + 2000, "--full shows every byte");
        }
    }

    private static List<String> fieldNames(StructSchema s) {
        List<String> out = new ArrayList<>();
        for (FieldSchema f : s.fields()) {
            out.add(f.name());
            if (f.element() != null) {
                out.addAll(fieldNames(f.element()));
            }
        }
        return out;
    }
}
