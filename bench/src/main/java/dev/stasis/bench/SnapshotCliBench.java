package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.fixtures.Guests;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Snapshot and restore as a user runs them: fresh processes, the same guest in stasis and in QEMU on the same KVM,
 * in one run. The guest is the Multiboot test kernel with 1 GiB of RAM and SnapshotBench's 256 MiB pattern loaded at
 * 256 MiB (stasis {@code --load}, QEMU {@code -device loader}); it counts on one vCPU while it is saved.
 *
 * <ul>
 *   <li>stasis: {@code stasis run --api-socket}, {@code stasis snapshot} (live: its line gives the pause and the
 *       write), then {@code stasis restore} (lazy) and {@code stasis restore --eager}: from exec to the line saying
 *       the guest is restored and starts, and, lazily, to all memory in place;</li>
 *   <li>QEMU: {@code migrate "exec:cat > FILE"} with the guest running ({@code query-migrate}: total-time and
 *       downtime), then {@code -incoming "exec:cat FILE"}: from exec to {@code query-status} saying running.</li>
 * </ul>
 * Each restored guest must print a count after the restore, or the round fails. QEMU's rows are left out, saying so,
 * where {@code qemu-system-x86_64} is not installed.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.SnapshotCliBench [--rounds 5] [--byte-wrap]}
 */
public final class SnapshotCliBench {
    private static final Path STASIS = Path.of("bin/stasis");
    private static final String MEM = "1G";
    /** Where SnapshotBench's 256 MiB pattern is loaded in the CLI benches' guests (MigrationCliBench --pattern too). */
    static final String PATTERN_GPA = "0x10000000";
    private static final Pattern SNAPSHOT = Pattern.compile("snapshot .*: (\\d+) bytes .*written in (\\d+) ms, paused ([0-9.]+) ms.*");
    private static final Pattern RESIDENT = Pattern.compile(".*stasis: all guest memory in place (\\d+) ms after.*");

    private SnapshotCliBench() {}

    record Round(double pauseMs, double saveMs, double fileMiB, double restoreMs, double residentMs, double eagerMs) {}

    public static void main(String[] args) throws Exception {
        int rounds = 5;
        boolean byteWrap = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--byte-wrap" -> byteWrap = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--rounds N, --byte-wrap)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-snapclibench");
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        Path pattern = dir.resolve("pattern.bin");
        long nonZero = SnapshotBench.writeRegion(pattern, byteWrap);
        boolean qemu = Qemu.installed();
        List<Round> ours = new ArrayList<>(), theirs = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            ours.add(stasisRound(dir, kernel, pattern));
            if (qemu) {
                theirs.add(qemuRound(dir, kernel, pattern));
            }
            System.out.printf("round %d: stasis %s%s%n", r + 1, ours.get(r), qemu ? ", QEMU " + theirs.get(r) : "");
        }
        System.out.printf("%nsnapshot and restore of the Multiboot test kernel, %s RAM with a 256 MiB pattern at 256 MiB (kernel pages %s, %d MiB non-zero),"
                + " 1 vCPU, fresh processes, %d rounds (median [min-max]); host copy bandwidth %.1f GiB/s%n",
                MEM, byteWrap ? "byte-wrapped" : "page-aligned", nonZero >> 20, rounds, SnapshotBench.memoryBandwidthGiBs());
        System.out.printf("| | stasis | QEMU %s | stasis / QEMU |%n|---|---:|---:|---:|%n", qemu ? Qemu.version() : "(not installed: apt-get install qemu-system-x86)");
        row("snapshot: the guest stops, ms", ours, theirs, Round::pauseMs, Round::pauseMs);
        row("snapshot: the whole save, ms", ours, theirs, Round::saveMs, Round::saveMs);
        row("file, MiB", ours, theirs, Round::fileMiB, Round::fileMiB);
        row("restore (lazy): exec to running guest, ms", ours, theirs, Round::restoreMs, Round::restoreMs);
        row("restore (lazy): exec to all memory in place, ms", ours, theirs, Round::residentMs, Round::restoreMs);
        row("restore --eager: exec to running guest, ms", ours, theirs, Round::eagerMs, Round::restoreMs);
        System.out.println("(QEMU's restore is eager: its one figure stands beside each stasis restore row.)");
    }

    private interface Figure {
        double of(Round r);
    }

    private static void row(String what, List<Round> ours, List<Round> qemu, Figure mine, Figure theirs) {
        List<Double> a = ours.stream().map(mine::of).toList();
        List<Double> b = qemu.stream().map(theirs::of).toList();
        System.out.printf("| %s | %s | %s | %s |%n", what, Stats.summary(a), b.isEmpty() ? "-" : Stats.summary(b),
                b.isEmpty() ? "-" : String.format("%.2f", Stats.median(a) / Stats.median(b)));
    }

    private static Round stasisRound(Path dir, Path kernel, Path pattern) throws Exception {
        Path socket = dir.resolve("vm.sock");
        Path file = dir.resolve("stasis.stasis");
        Files.deleteIfExists(socket);
        Files.deleteIfExists(file);
        Proc source = Proc.start(STASIS.toString(), "run", kernel.toString(), "--mem", MEM, "--load", pattern + "@" + PATTERN_GPA, "--api-socket", socket.toString());
        Matcher snap;
        try {
            source.await("mb n=2 cpu=0", 60);
            Proc s = Proc.start(STASIS.toString(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString());
            snap = SNAPSHOT.matcher(s.await("snapshot ", 120));
            if (!snap.matches()) {
                throw new IllegalStateException("stasis snapshot said: " + snap);
            }
            s.close();
        } finally {
            source.close();
        }
        double restoreMs, residentMs, eagerMs;
        long t0 = System.nanoTime();
        try (Proc lazy = Proc.start(STASIS.toString(), "restore", file.toString())) {
            lazy.await("stasis: restored", 60);
            restoreMs = (System.nanoTime() - t0) / 1e6;
            Matcher m = RESIDENT.matcher(lazy.await("all guest memory in place", 60));
            if (!m.matches()) {
                throw new IllegalStateException("stasis restore said: " + m);
            }
            residentMs = (System.nanoTime() - t0) / 1e6; // exec to the line, like the others
            lazy.await("mb n=", 30);
        }
        t0 = System.nanoTime();
        try (Proc eager = Proc.start(STASIS.toString(), "restore", "--eager", file.toString())) {
            eager.await("stasis: restored", 60);
            eagerMs = (System.nanoTime() - t0) / 1e6;
            eager.await("mb n=", 30);
        }
        return new Round(Double.parseDouble(snap.group(3)), Double.parseDouble(snap.group(2)), Files.size(file) / 1048576.0, restoreMs, residentMs, eagerMs);
    }

    private static Round qemuRound(Path dir, Path kernel, Path pattern) throws Exception {
        Path qmpSocket = dir.resolve("qemu.qmp");
        Path file = dir.resolve("qemu.state");
        Files.deleteIfExists(file);
        double pause, save;
        try (Proc source = Proc.start(Qemu.args(kernel, MEM, pattern, PATTERN_GPA, qmpSocket, null))) {
            source.await("mb n=2 cpu=0", 60);
            try (Qmp qmp = Qmp.connect(qmpSocket)) {
                qmp.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + file + "\"}}");
                JsonNode done = qmp.awaitMigration(120);
                pause = done.path("downtime").asDouble();
                save = done.path("total-time").asDouble();
            }
        }
        double restore;
        long t0 = System.nanoTime();
        try (Proc dest = Proc.start(Qemu.args(kernel, MEM, pattern, PATTERN_GPA, qmpSocket, "exec:cat " + file));
             Qmp qmp = Qmp.connect(qmpSocket)) {
            qmp.awaitRunning(60);
            restore = (System.nanoTime() - t0) / 1e6;
            dest.await("mb n=", 30);
        }
        return new Round(pause, save, Files.size(file) / 1048576.0, restore, restore, restore);
    }
}
