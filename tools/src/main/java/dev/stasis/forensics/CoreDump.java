package dev.stasis.forensics;

import dev.stasis.snapshot.inspect.RecordJson;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.forensics.elf.ElfCoreWriter;
import dev.stasis.forensics.elf.ElfNote;
import dev.stasis.forensics.x86.Prstatus;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * A snapshot as an ELF64 core for gdb and crash. Notes, in order: for each vCPU, NT_PRSTATUS (owner "CORE",
 * {@link Prstatus}) followed by an {@value #NOTE_OWNER} note of type {@value #NT_STASIS_VCPU}; then one
 * {@value #NOTE_OWNER} note of type {@value #NT_STASIS_MANIFEST}.
 *
 * <p>The {@code NT_STASIS_VCPU} descriptor is UTF-8 JSON holding the vCPU's full state as the snapshot has it,
 * field by field by the file's own schemas: {@code {"vcpu": i, "vcpu_section": {"version": v, "fields": {...}},
 * "lapic_section": {...}}}, where fields are those of the {@code vcpu} section (mp_state, regs, sregs with
 * cr0/cr2/cr3/cr4/efer and every segment, xsave as hex, xcrs, debugregs, msrs, events, cpuid, tsc_khz) and of the
 * {@code lapic} section. Integers are numbers (unsigned unless the schema says signed), byte strings hex.
 * {@code NT_STASIS_MANIFEST} is JSON {@code {"snapshot": path, "stasis_version": ..., "created": ..., "properties": {...}}}.
 *
 * <p>Memory: one PT_LOAD per RAM range, p_vaddr = p_paddr = guest-physical address (see {@link ElfCoreWriter}).
 */
public final class CoreDump {
    public static final String NOTE_OWNER = "STASIS";
    public static final int NT_STASIS_VCPU = 0x5354_0001;
    public static final int NT_STASIS_MANIFEST = 0x5354_0002;

    private CoreDump() {}

    public static ElfCoreWriter.Written write(SnapshotImage image, Path out, LongConsumer progress) throws IOException {
        List<ElfNote> notes = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < image.vcpuCount(); i++) {
            notes.add(new ElfNote("CORE", Prstatus.NT_PRSTATUS, Prstatus.of(i, image.vcpu(i))));
            ObjectNode state = json.createObjectNode().put("vcpu", i);
            state.set("vcpu_section", section(image, json, "vcpu", i));
            if (image.schema("lapic", i) != null) {
                state.set("lapic_section", section(image, json, "lapic", i));
            }
            notes.add(new ElfNote(NOTE_OWNER, NT_STASIS_VCPU, json.writeValueAsBytes(state)));
        }
        var m = image.reader().manifest();
        ObjectNode manifest = json.createObjectNode().put("snapshot", image.path().toString()).put("stasis_version", m.stasisVersion())
                .put("created", String.valueOf(m.created()));
        manifest.set("properties", json.valueToTree(m.properties()));
        notes.add(new ElfNote(NOTE_OWNER, NT_STASIS_MANIFEST, manifest.toString().getBytes(StandardCharsets.UTF_8)));
        return ElfCoreWriter.write(out, ElfCoreWriter.EM_X86_64, notes, image.memory(progress), progress);
    }

    private static ObjectNode section(SnapshotImage image, ObjectMapper json, String name, int instance) {
        int version = image.reader().sections().stream().filter(s -> s.name().equals(name) && s.instance() == instance)
                .findFirst().orElseThrow().version();
        ObjectNode s = json.createObjectNode().put("version", version);
        s.set("fields", RecordJson.record(image.schema(name, instance), image.reader().record(name, instance), true));
        return s;
    }
}
