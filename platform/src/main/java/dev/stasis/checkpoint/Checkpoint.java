package dev.stasis.checkpoint;

import dev.stasis.arch.x86.VcpuState;
import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.machine.StateSink;
import dev.stasis.machine.StateSource;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.Manifest;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.container.SnapshotWriter;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * Snapshot files of a {@link Machine}: {@link #save} writes every section and all guest RAM to one file
 * (atomically: a temporary file, fsynced, renamed); {@link #restore} builds a new machine from a file and
 * puts everything back before a single vCPU runs, so a file that fails to load never leaves a half-restored
 * guest running.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String STASIS_VERSION = "0.1.0";

    /** Writes {@code machine}, whose vCPUs must be paused, to {@code file}. */
    public static WriteReport save(Machine machine, Path file, WriterOptions options) throws IOException {
        return save(machine, file, options, bytes -> { });
    }

    /** {@link #save}, telling {@code progress} the guest bytes of each memory chunk as the writer takes it. */
    public static WriteReport save(Machine machine, Path file, WriterOptions options, LongConsumer progress) throws IOException {
        return write(capture(machine), new GuestMemoryRam(machine.memory()), file, options, progress);
    }

    /** One section as saved, to be written later. */
    record Section<S>(StateDescription<S> description, int instance, S state) {
        void writeTo(SnapshotWriter writer) throws IOException {
            writer.section(description.name(), instance, description, state);
        }
    }

    /**
     * Everything of a paused machine but its RAM: every section's state (immutable records, taken from KVM and
     * the devices) and the manifest properties. Taken during the pause; written whenever (a live snapshot writes
     * it after the guest has resumed).
     */
    record MachineState(List<Section<?>> sections, Map<String, String> properties) {}

    /** The sections and properties of {@code machine}, whose vCPUs must be paused. */
    static MachineState capture(Machine machine) {
        List<Section<?>> sections = new ArrayList<>();
        // Devices finish their I/O in flight first: with the vCPUs paused no new request comes until they resume.
        machine.quiesce();
        try {
            machine.saveState(new StateSink() {
                @Override
                public <S> void section(StateDescription<S> description, int instance, S state) {
                    sections.add(new Section<>(description, instance, state));
                }
            });
        } finally {
            machine.resumeIo();
        }
        return new MachineState(List.copyOf(sections), properties(machine));
    }

    /** Writes {@code state} and the RAM {@code ram} reads to {@code file}, atomically. */
    static WriteReport write(MachineState state, GuestRam ram, Path file, WriterOptions options, LongConsumer progress) throws IOException {
        try (SnapshotWriter writer = SnapshotWriter.create(file, options)) {
            List<String> optional = new ArrayList<>();
            for (Section<?> s : state.sections()) {
                s.writeTo(writer);
                if (s.description().optional()) {
                    optional.add(s.description().name() + "#" + s.instance());
                }
            }
            Map<String, String> properties = new LinkedHashMap<>(state.properties());
            if (!optional.isEmpty()) {
                properties.put(Manifest.OPTIONAL_SECTIONS, String.join(",", optional));
            }
            writer.manifest(Manifest.of(STASIS_VERSION, properties));
            writer.memory(ram, progress);
            return writer.commit();
        }
    }

    /** What to check a file against before restoring it: the vCPUs and RAM the user asked for, or null. */
    public record Expect(Integer vcpus, Long memorySize) {
        public static final Expect ANY = new Expect(null, null);
    }

    /**
     * A new machine holding the guest in {@code file}, not yet started. Refuses, naming what differs, a file
     * whose vCPU count or memory size is not what {@code expect} asks, or whose memory map disagrees with its
     * own VM section.
     */
    public static Machine restore(Path file, OutputStream console, Expect expect) throws IOException {
        return restore(file, console, expect, bytes -> { });
    }

    /** {@link #restore}, telling {@code progress} the guest bytes of each memory chunk as the reader fills it. */
    public static Machine restore(Path file, OutputStream console, Expect expect, LongConsumer progress) throws IOException {
        try (SnapshotReader reader = SnapshotReader.open(file)) {
            VmConfig config = VmConfigSection.withSavedCpu(reader.load(VmConfigSection.DESCRIPTION, 0),
                    () -> reader.load(VcpuState.DESCRIPTION, 0).cpuid());
            if (expect.vcpus() != null && expect.vcpus() != config.vcpus()) {
                throw new StateException(file + " holds a guest with " + config.vcpus() + " vCPUs, not " + expect.vcpus());
            }
            if (expect.memorySize() != null && expect.memorySize() != config.layout().totalSize()) {
                throw new StateException(file + " holds a guest with " + config.layout().totalSize() + " bytes of RAM, not " + expect.memorySize());
            }
            if (reader.memoryMap() == null) {
                throw new StateException(file + " holds no guest memory");
            }
            var fileRanges = GuestMemoryRam.asLayoutRanges(reader.memoryMap().ranges());
            if (!fileRanges.equals(config.layout().ranges())) {
                throw new StateException(file + ": its memory map " + fileRanges + " differs from its VM section " + config.layout().ranges());
            }
            Machine machine = Machine.create(config, console);
            try {
                reader.readMemory(new GuestMemoryRam(machine.memory()), true, progress);
                machine.restoreState(new StateSource() {
                    @Override
                    public <S> S section(StateDescription<S> description, int instance) {
                        return reader.load(description, instance);
                    }

                    @Override
                    public List<SectionRecords.Key> keys() {
                        return reader.sections().stream().map(s -> new SectionRecords.Key(s.name(), s.instance())).toList();
                    }

                    @Override
                    public boolean optional(SectionRecords.Key key) {
                        return reader.manifest().optional(key.name(), key.instance());
                    }
                }).forEach(machine::note);
                return machine;
            } catch (IOException | RuntimeException e) {
                machine.close();
                throw e;
            }
        }
    }

    private static Map<String, String> properties(Machine machine) {
        Map<String, String> p = new LinkedHashMap<>();
        VmConfig c = machine.vm().config();
        p.put("vcpus", String.valueOf(c.vcpus()));
        p.put("memory_bytes", String.valueOf(c.layout().totalSize()));
        p.put("tsc_khz", String.valueOf(machine.vm().tscKhz()));
        p.put("cpu_model", c.cpu().describe());
        return p;
    }
}
