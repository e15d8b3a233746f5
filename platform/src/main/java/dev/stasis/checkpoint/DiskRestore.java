package dev.stasis.checkpoint;

import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.StateException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where a restore finds the snapshot's disks: at the paths the snapshot recorded, or where {@code paths} says by disk
 * id; and whether a disk whose content changed since the snapshot is refused (the default) or accepted with a note.
 * A file that holds a disk's content ({@code snapshot --with-disks}) brings the disk itself: it is written out to the
 * path {@code paths} gives (a new file), or else the guest runs on a copy-on-write disk over the file's content: what
 * it writes goes to a private file only this VM sees, gone when it ends, and the snapshot file is never written.
 */
public record DiskRestore(Map<String, Path> paths, boolean acceptChanged) {
    public static final DiskRestore AS_SAVED = new DiskRestore(Map.of(), false);

    public DiskRestore {
        paths = Map.copyOf(paths);
    }

    /**
     * The disks to open for {@code saved} (slot order), those whose content {@code reader} holds written out first (their
     * new files are added to {@code made}, for the caller to remove if the restore fails); an override naming no disk
     * of the snapshot is refused.
     */
    List<DiskSpec> specs(List<VirtioBlkState> saved, SnapshotReader reader, List<Path> made) throws IOException {
        Map<String, Long> inFile = new HashMap<>();
        reader.disks().forEach(d -> inFile.put(d.id(), d.size()));
        List<DiskSpec> out = new ArrayList<>();
        try {
            for (DiskSpec spec : specs(saved)) {
                if (!inFile.containsKey(spec.id())) {
                    out.add(spec);
                    continue;
                }
                VirtioBlkState state = saved.stream().filter(s -> s.id().equals(spec.id())).findFirst().orElseThrow();
                long size = state.size();
                if (inFile.get(spec.id()) != size) {
                    throw new StateException("disk " + spec.id() + ": the file's content is " + inFile.get(spec.id())
                            + " bytes, its virtio-blk section says " + size + "; the file is damaged");
                }
                if (paths.containsKey(spec.id())) {
                    DiskContent.writeOut(reader, spec.id(), size, spec.path());
                    made.add(spec.path());
                    out.add(spec);
                } else {
                    Path overlay = Files.createTempFile("stasis-disk-" + spec.id() + "-", ".img"); // mode 600
                    made.add(overlay);
                    try (RandomAccessFile f = new RandomAccessFile(overlay.toFile(), "rw")) {
                        f.setLength(size); // sparse: it holds only what the guest writes
                    }
                    out.add(DiskSpec.overlay(overlay, spec.readOnly(), spec.id(), SnapshotDiskBase.open(reader.path(), reader, state)));
                }
            }
        } catch (IOException | RuntimeException e) {
            out.stream().filter(d -> d.base() != null).forEach(d -> d.base().close());
            throw e;
        }
        return out;
    }

    /** The disks to open for {@code saved} (slot order); an override naming no disk of the snapshot is refused. */
    List<DiskSpec> specs(List<VirtioBlkState> saved) {
        Set<String> ids = new HashSet<>();
        for (VirtioBlkState s : saved) {
            ids.add(s.id());
        }
        for (String id : paths.keySet()) {
            if (!ids.contains(id)) {
                throw new IllegalArgumentException("--disk " + id + "=...: the snapshot has no disk " + id
                        + (ids.isEmpty() ? " (it has none)" : " (it has " + String.join(", ", ids.stream().sorted().toList()) + ")"));
            }
        }
        return saved.stream().map(s -> new DiskSpec(paths.getOrDefault(s.id(), Path.of(s.path())), s.readOnly(), s.id())).toList();
    }
}
