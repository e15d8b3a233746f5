package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.fixtures.Guests;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * virtio-blk as a guest sees it, beside QEMU: the same guest (blkcheck, with its own driver) on the same image and the
 * same KVM, in one run, fresh processes.
 * <ul>
 *   <li>{@code bench=rand4k}: 4 KiB requests at random blocks of a 16 MiB image, 8 in flight, writes and reads in turn;
 *       {@code bench=seq1m}: 1 MiB requests, 16 MiB written then read, 2 in flight. The guest prints a line after each
 *       batch (4096 and 32 requests); the host times consecutive lines, after two to warm up.</li>
 *   <li>The cost of a queue notification: stasis with KVM's ioeventfd (the default) and with it off
 *       ({@code -Dstasis.virtio.ioeventfd=off}: each notification is an MMIO exit to the vCPU thread), on rand4k.</li>
 *   <li>The pause of a snapshot of a guest with a 1 GiB disk whose first 256 MiB are SnapshotBench's pattern: stasis
 *       flushes the image in the pause (its fingerprint the writes keep); QEMU's migration stream carries no disk, its
 *       downtime is beside it. Then {@code --with-disks} and its two restores.</li>
 *   <li>A migration of that guest with its disk copied ({@code migrate send --copy-disks}), beside QEMU's block
 *       migration of the same guest ({@code migrate} with {@code blk: true}) to an empty image of the same size.</li>
 * </ul>
 * QEMU runs {@code -machine microvm} (the same virtio-mmio windows) with {@code -global virtio-mmio.force-legacy=false}
 * and {@code -device virtio-blk-device}, {@code -accel kvm}; its rows are left out, saying so, where it is not installed.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.DiskBench [--samples 10] [--rounds 3]}
 */
public final class DiskBench {
    private static final Path STASIS = Path.of("bin/stasis");
    private static final Pattern SNAPSHOT = Pattern.compile("snapshot .*: (\\d+) bytes .*written in (\\d+) ms, paused ([0-9.]+) ms.*");

    private DiskBench() {}

    public static void main(String[] args) throws Exception {
        int samples = 10;
        int rounds = 3;
        boolean migrationsOnly = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--samples" -> samples = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--migrations-only" -> migrationsOnly = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--samples N, --rounds N, --migrations-only)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-diskbench");
        Path kernel = Files.write(dir.resolve("blkcheck.elf"), Guests.blkcheckKernel());
        Path image = dir.resolve("disk16.img");
        sparse(image, 16 << 20);
        boolean qemu = Qemu.installed();
        String qemuName = qemu ? "QEMU " + Qemu.version() : "QEMU (not installed: apt-get install qemu-system-x86)";
        if (migrationsOnly) {
            diskMigrations(dir, kernel, bigImage(dir), rounds, qemu);
            return;
        }

        System.out.printf("blkcheck on a 16 MiB raw image, 1 vCPU, %d samples after 2 (median [min-max]); physical reference: host pwrite+pread of"
                + " the same requests, %s%n", samples, hostReference(dir));
        System.out.printf("| guest load | stasis | stasis, ioeventfd off | %s | stasis / QEMU |%n|---|---:|---:|---:|---:|%n", qemuName);
        for (String mode : List.of("rand4k", "seq1m")) {
            String line = "blkcheck bench " + mode;
            long bytes = mode.equals("rand4k") ? 16L << 20 : 32L << 20;
            int requests = mode.equals("rand4k") ? 4096 : 32;
            List<Double> ours = intervals(stasis(kernel, image, mode, false), line, samples);
            List<Double> exits = intervals(stasis(kernel, image, mode, true), line, samples);
            List<Double> theirs = qemu ? intervals(Proc.start(qemuArgs(kernel, image, mode)), line, samples) : List.of();
            System.out.printf("| %s: ms per %d requests (%s) | %s | %s | %s | %s |%n", mode, requests, rate(ours, bytes, requests),
                    Stats.summary(ours), Stats.summary(exits), theirs.isEmpty() ? "-" : Stats.summary(theirs) + " (" + rate(theirs, bytes, requests) + ")",
                    theirs.isEmpty() ? "-" : String.format("%.2f", Stats.median(ours) / Stats.median(theirs)));
        }
        Path big = bigImage(dir);
        snapshots(dir, kernel, big, rounds, qemu);
        diskMigrations(dir, kernel, big, rounds, qemu);
    }

    private static String rate(List<Double> ms, long bytes, int requests) {
        double s = Stats.median(ms) / 1000;
        return String.format("%.0f MiB/s, %.0f requests/s", bytes / 1048576.0 / s, requests / s);
    }

    private static Proc stasis(Path kernel, Path image, String mode, boolean exits) throws Exception {
        ProcessBuilder b = new ProcessBuilder(STASIS.toString(), "run", kernel.toString(), "--disk", image.toString(), "--cmdline", "bench=" + mode)
                .redirectErrorStream(true);
        if (exits) {
            b.environment().put("STASIS_JAVA_OPTS", "-Dstasis.virtio.ioeventfd=off");
        }
        return Proc.of(b.start());
    }

    private static String[] qemuArgs(Path kernel, Path image, String mode) {
        return new String[] {Qemu.BINARY, "-accel", "kvm", "-cpu", Qemu.CPU, "-machine", "microvm,x-option-roms=on,ioapic2=off",
                "-global", "virtio-mmio.force-legacy=false", "-m", "64", "-smp", "1", "-display", "none", "-nodefaults", "-serial", "stdio",
                "-monitor", "none", "-no-reboot", "-kernel", kernel.toString(), "-append", mode == null ? "" : mode.contains("=") ? mode : "bench=" + mode,
                "-drive", "id=d0,file=" + image + ",format=raw,if=none,cache=writeback,aio=threads", "-device", "virtio-blk-device,drive=d0"};
    }

    /** Milliseconds between consecutive {@code line}s, after two. */
    private static List<Double> intervals(Proc p, String line, int samples) throws Exception {
        try (p) {
            p.await(line, 120);
            long last = p.awaitTime(line, 120);
            List<Double> out = new ArrayList<>();
            for (int i = 0; i < samples; i++) {
                long t = p.awaitTime(line, 120);
                out.add((t - last) / 1e6);
                last = t;
            }
            return out;
        }
    }

    /** The same request pattern issued by the host on the image itself: what the storage does without a guest. */
    private static String hostReference(Path dir) throws Exception {
        Path f = dir.resolve("host.img");
        sparse(f, 16 << 20);
        byte[] block = new byte[4096];
        Random random = new Random(1);
        double best = Double.MAX_VALUE;
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            for (int round = 0; round < 5; round++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 4096; i++) {
                    raf.seek((long) random.nextInt(4096) * 4096);
                    if ((i / 8) % 2 == 0) {
                        raf.write(block);
                    } else {
                        raf.readFully(block);
                    }
                }
                best = Math.min(best, (System.nanoTime() - t0) / 1e6);
            }
        }
        Files.delete(f);
        return String.format("4096 random 4 KiB requests in %.1f ms (one thread, page cache)", best);
    }

    private static void sparse(Path p, long size) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.setLength(size);
        }
    }

    /**
     * A 1 GiB image with SnapshotBench's 256 MiB pattern in its first quarter: the pause of snapshotting a guest on it,
     * then {@code --with-disks} (the pause, the whole save, the file) and its restores, on a copy-on-write disk over the
     * file and written out to a new image, beside the host copying the image ({@code cp --sparse=always}).
     */
    private static void snapshots(Path dir, Path kernel, Path image, int rounds, boolean qemu) throws Exception {
        long data = SnapshotBench.REGION_BYTES / 2;
        List<Double> ours = new ArrayList<>(), theirs = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            Path socket = dir.resolve("vm.sock");
            Path file = dir.resolve("vm.stasis");
            Files.deleteIfExists(socket);
            try (Proc vm = Proc.start(STASIS.toString(), "run", kernel.toString(), "--disk", image.toString(), "--cmdline", "bench=rand4k", "--api-socket", socket.toString())) {
                vm.await("blkcheck bench rand4k", 120);
                try (Proc s = Proc.start(STASIS.toString(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString())) {
                    Matcher m = SNAPSHOT.matcher(s.await("snapshot ", 120));
                    if (!m.matches()) {
                        throw new IllegalStateException("stasis snapshot said: " + m);
                    }
                    ours.add(Double.parseDouble(m.group(3)));
                }
            }
            if (qemu) {
                Path qmpSocket = dir.resolve("qemu.qmp");
                Path state = dir.resolve("qemu.state");
                List<String> a = new ArrayList<>(List.of(qemuArgs(kernel, image, "rand4k")));
                a.addAll(List.of("-qmp", "unix:" + qmpSocket + ",server=on,wait=off"));
                try (Proc vm = Proc.start(a.toArray(String[]::new))) {
                    vm.await("blkcheck bench rand4k", 120);
                    try (Qmp qmp = Qmp.connect(qmpSocket)) {
                        qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + state + "\"}}");
                        JsonNode done = qmp.awaitMigration(120);
                        theirs.add(done.path("downtime").asDouble());
                    }
                }
            }
        }
        List<double[]> withDisks = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            withDisks.add(withDisksRound(dir, kernel, image));
        }
        long t0 = System.nanoTime();
        Path copy = dir.resolve("copy.img");
        Files.deleteIfExists(copy);
        new ProcessBuilder("cp", "--sparse=always", image.toString(), copy.toString()).inheritIO().start().waitFor();
        double cpMs = (System.nanoTime() - t0) / 1e6;
        Files.delete(copy);
        System.out.printf("%nsnapshot of blkcheck (bench=rand4k running) with a 1 GiB image holding %d MiB of data, %d rounds (median [min-max])%n", data >> 20, rounds);
        System.out.printf("| | stasis | QEMU | stasis / QEMU |%n|---|---:|---:|---:|%n");
        System.out.printf("| the guest stops, ms (stasis: a flush of the disk inside, its fingerprint kept by the writes; QEMU: no disk in its stream) | %s | %s | %s |%n",
                Stats.summary(ours), theirs.isEmpty() ? "-" : Stats.summary(theirs),
                theirs.isEmpty() ? "-" : String.format("%.1f", Stats.median(ours) / Stats.median(theirs)));
        String[] what = {"--with-disks (live): the guest stops, ms", "--with-disks: the whole save, ms", "--with-disks: file, MiB",
                "restore on a copy-on-write disk over the file: exec to running, ms", "restore --disk ID=PATH (written out first): exec to running, ms"};
        for (int i = 0; i < what.length; i++) {
            int k = i;
            System.out.printf("| %s | %s | | |%n", what[i], Stats.summary(withDisks.stream().map(w -> w[k]).toList()));
        }
        System.out.printf("(physical reference: the host copies the image, cp --sparse=always, in %.0f ms; QEMU's migration stream has no disk, so no QEMU figure)%n", cpMs);
    }

    /** A 1 GiB image whose first 256 MiB are SnapshotBench's pattern (kernel text, prose and zeros; 128 MiB not zero). */
    private static Path bigImage(Path dir) throws Exception {
        Path image = dir.resolve("disk1g.img");
        SnapshotBench.writeRegion(image, false);
        try (RandomAccessFile f = new RandomAccessFile(image.toFile(), "rw")) {
            f.setLength(1L << 30);
        }
        return image;
    }

    /** A guest for a migration with its disk: its kernel, command line (or null) and the console line it repeats. */
    private record Mover(String name, Path kernel, String cmdline, String line) {}

    /**
     * Live migrations of a guest on {@code image} with the disk copied, fresh processes over loopback: stasis
     * {@code migrate send --copy-disks} to {@code migrate receive --disk data=NEW}, and QEMU's block migration
     * ({@code blk: true}, its 32 MiB/s default limit lifted) to a destination on an empty image of the same size; each
     * destination's guest must go on. Two
     * guests: the Multiboot counting kernel, which leaves the disk alone (the copy is the bulk of the image), and
     * blkcheck writing 4 KiB blocks at random all through (the copy must catch up with the writes).
     */
    private static void diskMigrations(Path dir, Path kernel, Path image, int rounds, boolean qemu) throws Exception {
        Path counting = Files.write(dir.resolve("mb.elf"), Guests.multibootKernel(1));
        List<Mover> movers = List.of(new Mover("counting kernel, disk untouched", counting, null, "mb n="),
                new Mover("blkcheck bench=rand4k writing all through", kernel, "bench=rand4k", "blkcheck bench rand4k"));
        System.out.printf("%nlive migration with the 1 GiB disk copied (256 MiB of data), fresh processes over loopback, %d rounds (median [min-max]);"
                + " QEMU gets %d s to converge%n", rounds, QEMU_CONVERGE_SECONDS);
        System.out.printf("| guest | stasis --copy-disks: total, ms | downtime, ms | QEMU block migration (blk): total, ms | downtime, ms | total stasis / QEMU |%n|---|---:|---:|---:|---:|---:|%n");
        for (Mover g : movers) {
            List<Double> total = new ArrayList<>(), downtime = new ArrayList<>(), qTotal = new ArrayList<>(), qDowntime = new ArrayList<>();
            int stuck = 0;
            for (int r = 0; r < rounds; r++) {
                double[] ours = stasisCopyDisks(dir, g, image);
                total.add(ours[0]);
                downtime.add(ours[1]);
                if (qemu) {
                    double[] theirs = qemuBlockMigration(dir, g, image);
                    if (theirs == null) {
                        stuck++;
                    } else {
                        qTotal.add(theirs[0]);
                        qDowntime.add(theirs[1]);
                    }
                }
            }
            String qt = !qemu ? "- (not installed)" : qTotal.isEmpty() ? "did not converge (" + stuck + " of " + rounds + ")"
                    : Stats.summary(qTotal) + (stuck > 0 ? " (" + stuck + " did not converge)" : "");
            System.out.printf("| %s | %s | %s | %s | %s | %s |%n", g.name(), Stats.summary(total), Stats.summary(downtime), qt,
                    qDowntime.isEmpty() ? "-" : Stats.summary(qDowntime), qTotal.isEmpty() ? "-" : String.format("%.2f", Stats.median(total) / Stats.median(qTotal)));
        }
    }

    private static final int QEMU_CONVERGE_SECONDS = 60;

    /** One stasis move of {@code g} with its disk copied: total and downtime, ms. */
    private static double[] stasisCopyDisks(Path dir, Mover g, Path image) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path copy = dir.resolve("migrated.img");
        Files.deleteIfExists(socket);
        Files.deleteIfExists(copy);
        int port = MigrationCliBench.freePort();
        List<String> run = new ArrayList<>(List.of(STASIS.toString(), "run", g.kernel().toString(), "--disk", image + ",id=data", "--api-socket", socket.toString()));
        if (g.cmdline() != null) {
            run.addAll(List.of("--cmdline", g.cmdline()));
        }
        try (Proc vm = Proc.start(run.toArray(String[]::new));
                Proc dest = Proc.start(STASIS.toString(), "migrate", "receive", "--listen", "127.0.0.1:" + port, "--insecure", "--disk", "data=" + copy)) {
            vm.await(g.line(), 120);
            dest.await("waiting for a migration", 30);
            Thread.sleep(1500); // past the VM process's warm-up (MigrationCliBench waits as long)
            try (Proc send = Proc.start(STASIS.toString(), "migrate", "send", "--api-socket", socket.toString(), "--to", "127.0.0.1:" + port, "--insecure", "--copy-disks")) {
                Matcher m = MigrationCliBench.RESULT.matcher(send.await("downtime", 300));
                if (!m.matches()) {
                    throw new IllegalStateException("stasis migrate send said: " + m);
                }
                dest.await(g.line(), 120); // the guest goes on at the destination, on the copy
                return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2))};
            }
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    /** One QEMU block migration of {@code g}: total and downtime, ms; null when it did not converge in time. */
    private static double[] qemuBlockMigration(Path dir, Mover g, Path image) throws Exception {
        Path srcQmp = dir.resolve("src.qmp"), dstQmp = dir.resolve("dst.qmp");
        Path empty = dir.resolve("qemu-dest.img");
        Files.deleteIfExists(srcQmp);
        Files.deleteIfExists(dstQmp);
        Files.deleteIfExists(empty);
        sparse(empty, Files.size(image));
        int port = MigrationCliBench.freePort();
        List<String> src = new ArrayList<>(List.of(qemuArgs(g.kernel(), image, g.cmdline())));
        src.addAll(List.of("-qmp", "unix:" + srcQmp + ",server=on,wait=off"));
        List<String> dst = new ArrayList<>(List.of(qemuArgs(g.kernel(), empty, g.cmdline())));
        dst.addAll(List.of("-qmp", "unix:" + dstQmp + ",server=on,wait=off", "-incoming", "tcp:127.0.0.1:" + port));
        try (Proc a = Proc.start(src.toArray(String[]::new)); Proc b = Proc.start(dst.toArray(String[]::new))) {
            a.await(g.line(), 120);
            Thread.sleep(1500);
            try (Qmp qmp = Qmp.connect(srcQmp)) {
                // QEMU's default bandwidth limit (32 MiB/s) lifted: stasis has none unless --max-bandwidth asks for one.
                qmp.execute("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":" + (64L << 30) + "}}");
                qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\",\"blk\":true}}");
                JsonNode done;
                try {
                    done = qmp.awaitMigration(QEMU_CONVERGE_SECONDS);
                } catch (IllegalStateException e) {
                    qmp.execute("{\"execute\":\"migrate_cancel\"}");
                    return null;
                }
                b.await(g.line(), 120);
                return new double[] {done.path("total-time").asDouble(), done.path("downtime").asDouble()};
            }
        } finally {
            Files.deleteIfExists(empty);
        }
    }

    /** One {@code snapshot --with-disks} of blkcheck on {@code image} and its two restores: pause, save, MiB, overlay restore, written-out restore. */
    private static double[] withDisksRound(Path dir, Path kernel, Path image) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("with-disks.stasis");
        Files.deleteIfExists(socket);
        Files.deleteIfExists(file);
        double pause, save;
        try (Proc vm = Proc.start(STASIS.toString(), "run", kernel.toString(), "--disk", image + ",id=data", "--cmdline", "bench=rand4k", "--api-socket", socket.toString())) {
            vm.await("blkcheck bench rand4k", 120);
            try (Proc s = Proc.start(STASIS.toString(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString(), "--with-disks")) {
                Matcher m = SNAPSHOT.matcher(s.await("snapshot ", 300));
                if (!m.matches()) {
                    throw new IllegalStateException("stasis snapshot said: " + m);
                }
                pause = Double.parseDouble(m.group(3));
                save = Double.parseDouble(m.group(2));
            }
        }
        long t0 = System.nanoTime();
        double overlay;
        try (Proc r = Proc.start(STASIS.toString(), "restore", file.toString())) {
            r.await("stasis: restored", 120);
            overlay = (System.nanoTime() - t0) / 1e6;
            r.await("blkcheck bench rand4k", 120);
        }
        Path out = dir.resolve("written-out.img");
        Files.deleteIfExists(out);
        t0 = System.nanoTime();
        double written;
        try (Proc r = Proc.start(STASIS.toString(), "restore", file.toString(), "--disk", "data=" + out)) {
            r.await("stasis: restored", 300);
            written = (System.nanoTime() - t0) / 1e6;
            r.await("blkcheck bench rand4k", 120);
        }
        Files.delete(out);
        return new double[] {pause, save, Files.size(file) / 1048576.0, overlay, written};
    }
}
