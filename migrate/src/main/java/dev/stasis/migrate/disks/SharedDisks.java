package dev.stasis.migrate.disks;

import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import dev.stasis.machine.DiskCheck;
import dev.stasis.machine.Machine;
import dev.stasis.machine.SectionRecords;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Disks on shared storage, handed over in the stop-and-copy: the source, paused with its disk I/O held and every
 * image flushed (saving the state flushes them), lets go of each image's lock and sends DISKS, a sample of blocks of
 * each disk with their content hashes; the destination opens the images only now, at the paths its operator gave
 * ({@code migrate receive --disk ID=PATH}: never a path the source names, which an authenticated but hostile source
 * could aim anywhere), takes their locks, and compares the sample (so a path that names another file at the
 * destination, or a stale copy, is refused by name instead of running the guest on the wrong disk). If the move fails
 * before COMMIT the destination closes its disks and the source takes the locks back before its guest runs on.
 *
 * <p>The sample, not the whole-disk fingerprint the sections carry: that one the destination could only take by
 * reading every block of every disk inside the guest's pause. DISKS is: varint disk count, then per disk in slot
 * order: varint sample count, that many (u64 block, u64 hash).
 */
public final class SharedDisks {
    private SharedDisks() {}

    /** Blocks compared per disk: the first, the last, and random ones between. */
    static final int SAMPLES = 64;
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Why {@code machine}'s disks cannot be handed over on shared storage, or null when they can (or it has none). */
    public static String refusal(Machine machine) {
        for (VirtioBlk d : machine.disks()) {
            if (d.image().privateCopy()) {
                return "disk " + d.id() + " runs on a private copy-on-write overlay (restored from a snapshot's own disk content),"
                        + " which no destination can open: migrate it with --copy-disks";
            }
        }
        return null;
    }

    /**
     * Source, in the pause after the state was saved: samples every disk and, with {@code release} (shared storage),
     * lets go of its lock. Returns the DISKS payload, or null for a guest without disks.
     */
    public static Encoder handOver(Machine machine, boolean release) {
        List<VirtioBlk> disks = machine.disks();
        if (disks.isEmpty()) {
            return null;
        }
        Encoder e = new Encoder().varUnsigned(disks.size());
        for (VirtioBlk d : disks) {
            long[] blocks = sample(d.image().size());
            long[] hashes;
            try {
                hashes = d.image().blockHashes(blocks);
            } catch (IOException ex) {
                throw new MigrationException(Kind.LOCAL, "disk " + d.id() + " could not be read for the hand-over: " + ex.getMessage(), ex);
            }
            e.varUnsigned(blocks.length);
            for (int i = 0; i < blocks.length; i++) {
                e.u64(blocks[i]).u64(hashes[i]);
            }
        }
        if (release) {
            machine.releaseDisks();
        }
        return e;
    }

    /** Source, when the move failed before COMMIT: the locks back before the guest may run on. */
    public static void takeBack(Machine machine) {
        try {
            machine.retakeDisks();
        } catch (IOException e) {
            throw new MigrationException(Kind.LOCAL, e.getMessage() + "; the guest stays paused here rather than share its disk", e);
        }
    }

    private static long[] sample(long size) {
        long count = (size + 4095) / 4096;
        if (count <= SAMPLES) {
            long[] all = new long[(int) count];
            Arrays.setAll(all, i -> i);
            return all;
        }
        long[] s = new long[SAMPLES];
        s[0] = 0;
        s[1] = count - 1;
        for (int i = 2; i < SAMPLES; i++) {
            s[i] = 1 + (long) (RANDOM.nextDouble() * (count - 2));
        }
        return s;
    }

    /** Destination: the DISKS payload, checked for shape (block numbers are checked against each disk when it opens). */
    public static long[][][] decode(Decoder d) {
        int n = d.varInt("disk count", dev.stasis.machine.VirtioSlots.COUNT);
        long[][][] out = new long[n][][];
        for (int i = 0; i < n; i++) {
            int k = d.varInt("sample count", SAMPLES);
            long[] blocks = new long[k];
            long[] hashes = new long[k];
            for (int j = 0; j < k; j++) {
                blocks[j] = d.u64("block");
                hashes[j] = d.u64("hash");
            }
            out[i] = new long[][] {blocks, hashes};
        }
        d.end("DISKS");
        return out;
    }

    /**
     * Destination, after every section arrived: opens the disks the {@code virtio-blk} sections name (slots 0, 1, ...)
     * into {@code machine}, each at the path the destination's operator gave for its id ({@code paths}: where this host
     * sees a shared disk, or where its copy was written; never a path the source names), and compares {@code samples}
     * (null when the source sent no DISKS). With {@code copied}, the disks must be exactly those whose copies came.
     * Throws a {@link MigrationException} naming the disk when one is not given a path, cannot be opened or does not
     * hold what the source's does.
     */
    public static void attach(Machine machine, SectionRecords sections, long[][][] samples, Map<String, Path> paths, boolean copied) {
        List<VirtioBlkState> saved = new ArrayList<>();
        for (int slot = 0; sections.keys().contains(new SectionRecords.Key(VirtioBlkState.DESCRIPTION.name(), slot)); slot++) {
            saved.add(sections.section(VirtioBlkState.DESCRIPTION, slot));
        }
        if (saved.isEmpty() && samples == null && !copied) {
            return;
        }
        if (samples == null || samples.length != saved.size()) {
            throw new MigrationException(Kind.PROTOCOL, "the source sent " + saved.size() + " disk sections but "
                    + (samples == null ? "no DISKS" : "DISKS for " + samples.length));
        }
        if (copied && !saved.stream().map(VirtioBlkState::id).collect(java.util.stream.Collectors.toSet()).equals(paths.keySet())) {
            throw new MigrationException(Kind.PROTOCOL, "the disks the source copied " + paths.keySet() + " are not the guest's "
                    + saved.stream().map(VirtioBlkState::id).toList());
        }
        List<DiskSpec> specs = new ArrayList<>();
        for (VirtioBlkState s : saved) {
            Path p = paths.get(s.id());
            if (p == null) {
                throw new MigrationException(Kind.LOCAL, "the guest has disk " + s.id() + " (" + s.path() + " at the source): tell migrate receive"
                        + " where this host has it with --disk " + s.id() + "=PATH (storage both hosts share), or send it with --copy-disks");
            }
            specs.add(new DiskSpec(p, s.readOnly(), s.id()));
        }
        try {
            machine.attachDisks(specs);
        } catch (IOException | RuntimeException e) {
            throw new MigrationException(Kind.LOCAL, "cannot open the guest's disks here" + (copied ? " (their copies)" : "") + ": " + e.getMessage(), e);
        }
        List<VirtioBlk> disks = machine.disks();
        for (int i = 0; i < disks.size(); i++) {
            VirtioBlk d = disks.get(i);
            if (d.image().size() != saved.get(i).size()) {
                throw new MigrationException(Kind.LOCAL, "disk " + d.id() + " (" + d.image().path() + ") is " + d.image().size()
                        + " bytes here, " + saved.get(i).size() + " at the source: not the same file");
            }
            if (samples[i][0].length != Math.min(SAMPLES, d.image().blocks())) {
                throw new MigrationException(Kind.PROTOCOL, "DISKS compares " + samples[i][0].length + " blocks of disk " + d.id() + ", not "
                        + Math.min(SAMPLES, d.image().blocks()));
            }
            long[] here;
            try {
                here = d.image().blockHashes(samples[i][0]);
            } catch (IOException | IllegalArgumentException e) {
                throw new MigrationException(Kind.LOCAL, "disk " + d.id() + " could not be compared with the source's: " + e.getMessage(), e);
            }
            for (int j = 0; j < here.length; j++) {
                if (here[j] != samples[i][1][j]) {
                    throw new MigrationException(Kind.LOCAL, "disk " + d.id() + " (" + d.image().path() + ") does not hold what the source's does"
                            + " (block " + samples[i][0][j] + " differs)" + (copied ? ": its copy is not complete"
                            : ": is the path on storage both hosts share, and up to date?"));
                }
            }
        }
        machine.diskCheck(DiskCheck.CHECKED_BY_CALLER);
    }
}
