package dev.stasis.checkpoint;

import dev.stasis.arch.x86.VcpuState;
import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.machine.StateSink;
import dev.stasis.machine.StateSource;
import dev.stasis.memory.LazyRam;
import dev.stasis.memory.RamBacking;
import dev.stasis.snapshot.container.ChunkAccess;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.Manifest;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.container.SnapshotWriter;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.uffd.UffdUnavailableException;
import dev.stasis.vm.ReadyVms;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import dev.stasis.vm.VmExit;
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
 * puts its state back before a single vCPU runs, so a file that fails to load never leaves a half-restored
 * guest running. RAM goes in before the state, or, lazily, while the guest runs.
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
        return save(machine, file, options, progress, false);
    }

    /**
     * {@link #save(Machine, Path, WriterOptions, LongConsumer)}; {@code withDisks}: the file holds the disks' content too
     * (format 1.3), so it restores without the images (taken while the vCPUs and the disks stand still).
     */
    public static WriteReport save(Machine machine, Path file, WriterOptions options, LongConsumer progress, boolean withDisks) throws IOException {
        return write(capture(machine, withDisks), new GuestMemoryRam(machine.memory()), file, options, progress);
    }

    /** {@link #save}, with {@code extra} manifest properties beside the machine's own (a golden image's recipe). */
    public static WriteReport save(Machine machine, Path file, WriterOptions options, Map<String, String> extra) throws IOException {
        MachineState state = capture(machine, false);
        Map<String, String> properties = new LinkedHashMap<>(state.properties());
        properties.putAll(extra);
        return write(new MachineState(state.sections(), properties, List.of()), new GuestMemoryRam(machine.memory()), file, options, bytes -> { });
    }

    /** One section as saved, to be written later. */
    record Section<S>(StateDescription<S> description, int instance, S state) {
        void writeTo(SnapshotWriter writer) throws IOException {
            writer.section(description.name(), instance, description, state);
        }
    }

    /**
     * Everything of a paused machine but its RAM: every section's state (immutable records, taken from KVM and
     * the devices), the manifest properties, and the disks whose content goes in the file (empty unless asked). Taken
     * during the pause; written whenever (a live snapshot writes it after the guest has resumed; the disks' I/O is held
     * until their content is written).
     */
    record MachineState(List<Section<?>> sections, Map<String, String> properties, List<VirtioBlk> disks) {}

    /**
     * The sections and properties of {@code machine}, whose vCPUs must be paused; with {@code withDisks} its disks too.
     * A private copy-on-write disk (over a file's disk content) has no file a restore could open: it needs {@code withDisks}.
     */
    static MachineState capture(Machine machine, boolean withDisks) {
        if (!withDisks) {
            for (VirtioBlk d : machine.disks()) {
                if (d.image().privateCopy()) {
                    throw new IllegalStateException("disk " + d.id() + " is a private copy-on-write disk over a snapshot's disk content (it has no file"
                            + " of its own): snapshot this guest with its disks (--with-disks)");
                }
            }
        }
        List<Section<?>> sections = new ArrayList<>();
        // Devices finish their I/O in flight first and start none until the vCPUs resume (if they do).
        machine.quiesce();
        machine.saveState(new StateSink() {
            @Override
            public <S> void section(StateDescription<S> description, int instance, S state) {
                sections.add(new Section<>(description, instance, state));
            }
        });
        return new MachineState(List.copyOf(sections), properties(machine), withDisks ? machine.disks() : List.of());
    }

    /** Writes {@code state} and the RAM {@code ram} reads to {@code file}, atomically. */
    static WriteReport write(MachineState state, GuestRam ram, Path file, WriterOptions options, LongConsumer progress) throws IOException {
        return write(state, ram, file, options, progress, () -> { });
    }

    /** {@link #write(MachineState, GuestRam, Path, WriterOptions, LongConsumer)}, running {@code afterDisks} once the disks' content is in. */
    static WriteReport write(MachineState state, GuestRam ram, Path file, WriterOptions options, LongConsumer progress, Runnable afterDisks) throws IOException {
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
            // The disks first: a live snapshot holds their I/O until their content is in the file, and memory takes longest.
            for (VirtioBlk d : state.disks()) {
                writer.disk(d.id(), d.image().size(), DiskContent.of(d.image()), bytes -> { });
            }
            afterDisks.run();
            writer.memory(ram, progress);
            return writer.commit();
        }
    }

    /** What to check a file against before restoring it: the vCPUs and RAM the user asked for, or null. */
    public record Expect(Integer vcpus, Long memorySize) {
        public static final Expect ANY = new Expect(null, null);
    }

    /**
     * A new machine holding the guest in {@code file}, not yet started, its RAM read in full. Refuses, naming what
     * differs, a file whose vCPU count or memory size is not what {@code expect} asks, or whose memory map
     * disagrees with its own VM section.
     */
    public static Machine restore(Path file, OutputStream console, Expect expect) throws IOException {
        return restore(file, console, expect, RestoreMode.EAGER, bytes -> { });
    }

    /** {@link #restore}, telling {@code progress} the guest bytes of each memory chunk as the reader fills it. */
    public static Machine restore(Path file, OutputStream console, Expect expect, LongConsumer progress) throws IOException {
        return restore(file, console, expect, RestoreMode.EAGER, progress);
    }

    /**
     * {@link #restore} in {@code mode}. Lazy: RAM fills from the file while the guest runs (the file stays open
     * until it is all in); where userfaultfd is unavailable, it is read in full and the machine notes why. With a
     * lazy restore {@code progress} hears nothing.
     */
    public static Machine restore(Path file, OutputStream console, Expect expect, RestoreMode mode, LongConsumer progress) throws IOException {
        return restore(file, console, expect, mode, progress, DiskRestore.AS_SAVED);
    }

    /**
     * {@link #restore(Path, OutputStream, Expect, RestoreMode, LongConsumer)} with the snapshot's disks reopened as
     * {@code disks} says; a disk that is not what the snapshot saw is refused by name unless {@code disks} accepts it.
     */
    public static Machine restore(Path file, OutputStream console, Expect expect, RestoreMode mode, LongConsumer progress, DiskRestore disks) throws IOException {
        SnapshotReader reader = SnapshotReader.open(file);
        boolean readerKept = false;
        try {
            StateSource state = StateSource.decodedOnce(sectionsOf(reader)); // the machine reads the VM and vCPU 0 sections again
            VmConfig config = configOf(state);
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
            RamBacking backing = mode.imageCache() == null ? RamBacking.ZERO
                    : new RamBacking.Image(RamImageCache.at(mode.imageCache()).imageOf(reader, config.layout().totalSize()).file());
            List<VirtioBlkState> savedDisks = new ArrayList<>();
            for (int slot = 0; reader.hasSection(VirtioBlkState.DESCRIPTION.name(), slot); slot++) {
                savedDisks.add(state.section(VirtioBlkState.DESCRIPTION, slot)); // slots are filled from 0: a gap leaves a section unread, refused below
            }
            List<Path> made = new ArrayList<>();
            List<DiskSpec> specs = new ArrayList<>();
            Machine machine;
            try {
                specs.addAll(disks.specs(savedDisks, reader, made));
                machine = Machine.create(config, console, backing, specs);
            } catch (IOException | RuntimeException e) {
                specs.stream().filter(d -> d.base() != null).forEach(d -> d.base().close());
                removeAll(made); // disks written out for a restore that did not happen
                throw e;
            }
            machine.acceptChangedDisks(disks.acceptChanged());
            try {
                // Lazily, RAM is served before the state goes in: KVM maps the pvclock page when its MSR is set.
                readerKept = backing == RamBacking.ZERO && mode.lazy() && startLazy(machine, reader, file, mode);
                if (!readerKept && backing == RamBacking.ZERO) {
                    reader.readMemory(new GuestMemoryRam(machine.memory()), true, progress);
                }
                machine.restoreState(state).forEach(machine::note);
                LazyRam lazy = machine.memory().lazyRestore();
                if (lazy != null && lazy.failure() != null) {
                    throw new IOException("the lazy restore of " + file + " failed before the guest started: " + lazy.failure().getMessage(), lazy.failure());
                }
                return machine;
            } catch (IOException | RuntimeException e) {
                machine.close(); // stops a lazy restore, which lets go of the reader
                removeAll(made); // disks written out for a restore that did not happen (private copies went with the machine)
                throw e;
            }
        } finally {
            if (!readerKept) {
                reader.close();
            }
        }
    }

    /** The VM a restore of {@code state} builds. */
    private static VmConfig configOf(StateSource state) {
        return VmConfigSection.withSavedCpu(state.section(VmConfigSection.DESCRIPTION, 0), () -> state.section(VcpuState.DESCRIPTION, 0).cpuid());
    }

    /**
     * Has this process keep a VM of the shape {@code file}'s guest needs built ahead ({@link ReadyVms}), for its next
     * restores of that file or of any of the same shape; an unreadable file is an {@link IOException} as for restore.
     */
    public static void keepVmReadyFor(Path file) throws IOException {
        try (SnapshotReader reader = SnapshotReader.open(file)) {
            ReadyVms.keep(configOf(StateSource.decodedOnce(sectionsOf(reader))));
        }
    }

    /** The file's sections as restore state. */
    private static StateSource sectionsOf(SnapshotReader reader) {
        return new StateSource() {
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
        };
    }

    private static void removeAll(List<Path> paths) {
        for (Path p : paths) {
            try {
                java.nio.file.Files.deleteIfExists(p);
            } catch (IOException ignored) {
                // left behind: the restore's own failure is what the user is told
            }
        }
    }

    /**
     * Starts filling {@code machine}'s RAM lazily from {@code reader}, which it closes when done; false (and a
     * note) when userfaultfd is unavailable here.
     */
    private static boolean startLazy(Machine machine, SnapshotReader reader, Path file, RestoreMode mode) {
        LazyRam ram;
        ChunkAccess chunks = reader.chunkAccess();
        int[] first = FetchOrder.read(file, chunks.count());
        try {
            ram = LazyRam.start(machine.memory(), chunks, first, mode.prefetch(), !mode.copyPages(), cause -> stopForLostMemory(machine, file, cause));
        } catch (UffdUnavailableException e) {
            machine.note("restored eagerly: a lazy restore needs userfaultfd, and " + e.getMessage());
            return false;
        }
        ram.whenDone(() -> {
            if (mode.recordOrder() && ram.failure() == null && ram.stats().residentNanos() >= 0) {
                FetchOrder.recordIfAbsent(file, chunks.count(), ram.faultOrder());
            }
            try {
                reader.close();
            } catch (IOException ignored) {
                // read-only: nothing is lost
            }
        });
        return true;
    }

    /** A chunk could not be read: the guest stops (it must not run on without that memory) and the exit says why. */
    private static void stopForLostMemory(Machine machine, Path file, Throwable cause) {
        machine.vm().stop(new VmExit(VmExit.Kind.HOST_FAILURE, 0, "the guest's memory could not be read from " + file + " during its lazy restore: "
                + cause.getMessage() + "; the guest is stopped (it cannot run on without that memory)", ""));
        try {
            machine.vm().runControl().awaitAllLeft(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
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
