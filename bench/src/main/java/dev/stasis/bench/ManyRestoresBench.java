package dev.stasis.bench;

import dev.stasis.fixtures.Guests;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The golden-image case: many guests restored at once from one file, each a fresh process, and the host memory they
 * use. The file is SnapshotCliBench's guest (the Multiboot test kernel, 1 GiB of RAM, the 256 MiB pattern at 256 MiB,
 * 128 MiB of it non-zero), saved once. Then {@code --guests} restores at once, each left running, four ways:
 * {@code stasis restore} (lazy: each fills its own RAM), the same {@code --copy-pages} (only the file's non-zero pages,
 * where the default moves whole chunks in, zero pages and all), {@code stasis restore --image-cache DIR} (one decoded image,
 * mapped copy-on-write by all) and QEMU {@code -incoming "exec:cat FILE"} (where installed). For each: the resident
 * and proportional set sizes of the guests' RAM mappings (from /proc/PID/smaps, the mappings of 512 MiB or more) and
 * of the whole processes (smaps_rollup), summed over the guests.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.ManyRestoresBench [--guests 20]}
 */
public final class ManyRestoresBench {
    private static final Path STASIS = Path.of("bin/stasis");
    private static final String MEM = "1G";

    private ManyRestoresBench() {}

    /** KiB summed over the guests: of their RAM mappings and of their whole processes. */
    record Use(long ramRss, long ramPss, long rss, long pss) {}

    public static void main(String[] args) throws Exception {
        int guests = 20;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--guests" -> guests = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--guests N)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-manybench");
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        Path pattern = dir.resolve("pattern.bin");
        SnapshotBench.writeRegion(pattern, false);
        Path file = dir.resolve("golden.stasis");
        Path socket = dir.resolve("vm.sock");
        try (Proc source = Proc.start(STASIS.toString(), "run", kernel.toString(), "--mem", MEM, "--load", pattern + "@0x10000000", "--api-socket", socket.toString())) {
            source.await("mb n=2 cpu=0", 60);
            try (Proc s = Proc.start(STASIS.toString(), "snapshot", "--api-socket", socket.toString(), "--out", file.toString())) {
                s.await("snapshot ", 120);
            }
        }
        Path cache = dir.resolve("images");
        Use lazy = run(guests, i -> Proc.start(STASIS.toString(), "restore", file.toString(), "--no-crash-dump"), "all guest memory in place");
        Use copied = run(guests, i -> Proc.start(STASIS.toString(), "restore", "--copy-pages", file.toString(), "--no-crash-dump"), "all guest memory in place");
        Use shared = run(guests, i -> Proc.start(STASIS.toString(), "restore", "--image-cache", cache.toString(), file.toString(), "--no-crash-dump"), "stasis: restored");
        Use qemu = null;
        Path qemuState = dir.resolve("qemu.state");
        if (Qemu.installed()) {
            Path qmp = dir.resolve("save.qmp");
            try (Proc q = Proc.start(Qemu.args(kernel, MEM, pattern, "0x10000000", qmp, null)); Qmp c = Qmp.connect(qmp)) {
                q.await("mb n=2 cpu=0", 60);
                c.execute("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > " + qemuState + "\"}}");
                c.awaitMigration(120);
            }
            qemu = run(guests, i -> Proc.start(Qemu.args(kernel, MEM, pattern, "0x10000000", dir.resolve("q" + i + ".qmp"), "exec:cat " + qemuState)), null);
        }
        System.out.printf("%n%d guests restored at once from one file (the Multiboot test kernel, %s RAM, 128 MiB of it non-zero), each running;"
                + " host memory summed over the guests, MiB%n", guests, MEM);
        System.out.printf("| | guest RAM, RSS | guest RAM, PSS | process RSS | process PSS |%n|---|---:|---:|---:|---:|%n");
        row("stasis restore (lazy: RAM of its own, chunks moved in as huge pages)", lazy);
        row("stasis restore --copy-pages (lazy: only the file's non-zero pages)", copied);
        row("stasis restore --image-cache (one image, copy-on-write)", shared);
        if (qemu != null) {
            row("QEMU " + Qemu.version() + " -incoming exec:cat", qemu);
        } else {
            System.out.println("| QEMU | not installed: apt-get install qemu-system-x86 | | | |");
        }
    }

    private static void row(String what, Use u) {
        System.out.printf("| %s | %d | %d | %d | %d |%n", what, u.ramRss() >> 10, u.ramPss() >> 10, u.rss() >> 10, u.pss() >> 10);
    }

    private interface Starter {
        Proc start(int i) throws IOException;
    }

    /** Starts {@code n} guests, waits until each runs (and printed {@code ready}, if given), measures, ends them. */
    private static Use run(int n, Starter starter, String ready) throws Exception {
        List<Proc> procs = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                procs.add(starter.start(i));
            }
            for (Proc p : procs) {
                if (ready != null) {
                    p.await(ready, 120);
                }
                p.await("mb n=", 60); // running, restored
            }
            long ramRss = 0, ramPss = 0, rss = 0, pss = 0;
            for (Proc p : procs) {
                long[] ram = Smaps.guestRam(String.valueOf(p.pid()));
                ramRss += ram[0];
                ramPss += ram[1];
                long[] all = Smaps.rollup(String.valueOf(p.pid()));
                rss += all[0];
                pss += all[1];
            }
            return new Use(ramRss, ramPss, rss, pss);
        } finally {
            for (Proc p : procs) {
                p.close();
            }
        }
    }

}
