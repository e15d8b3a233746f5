package dev.stasis.checkpoint;

import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where a restore finds the snapshot's disks: at the paths the snapshot recorded, or where {@code paths} says by disk
 * id; and whether a disk whose content changed since the snapshot is refused (the default) or accepted with a note.
 */
public record DiskRestore(Map<String, Path> paths, boolean acceptChanged) {
    public static final DiskRestore AS_SAVED = new DiskRestore(Map.of(), false);

    public DiskRestore {
        paths = Map.copyOf(paths);
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
