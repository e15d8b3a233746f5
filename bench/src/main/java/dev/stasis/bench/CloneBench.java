package dev.stasis.bench;

import dev.stasis.fixtures.Guests;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.junit.ClonePool;
import dev.stasis.junit.GuestClone;
import dev.stasis.machine.BootSource;
import dev.stasis.vm.VmConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Golden-image clones as a test suite uses them (issue 14): {@code --tests} tests in a row, each with a fresh clone of
 * a 1 GiB golden guest that touches 64 MiB (dirtier rewriting 16384 pages, saved by {@code stasis golden build} once
 * it had written them twice), the clone handed over without and with a pool ({@link GuestClone#of}, {@link
 * ClonePool#take}: the extension's own calls); each test waits for the clone's next round (all 64 MiB rewritten, so
 * copied from the shared image) and closes it. Beside it, the same test booting the guest from scratch
 * ({@code --scratch} times). Then {@code --alive} clones alive at once, each past its round: host memory of their
 * guest RAM (this process's mappings of 512 MiB or more, from /proc/self/smaps), against one clone alone.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.CloneBench [--tests 100] [--scratch 20] [--alive 20]},
 * from the repository root after {@code mvn -q -B package -DskipTests}.
 */
public final class CloneBench {
    private static final Path STASIS = Path.of("bin/stasis");
    private static final Map<String, String> DIRTIER = Map.of("pages", "16384", "report", "1");
    private static final Duration ROUND = Duration.ofSeconds(120);

    public static void main(String[] args) throws Exception {
        int tests = 100, scratch = 20, alive = 20;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--tests" -> tests = Integer.parseInt(args[++i]);
                case "--scratch" -> scratch = Integer.parseInt(args[++i]);
                case "--alive" -> alive = Integer.parseInt(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (--tests N, --scratch N, --alive N)");
            }
        }
        if (!Files.isExecutable(STASIS)) {
            throw new IllegalStateException("run from the repository root after 'mvn -q -B package -DskipTests' (no " + STASIS + ")");
        }
        Path dir = Scratch.dir("stasis-clone-bench");
        Path golden = dir.resolve("dirtier.golden");
        long t = System.nanoTime();
        Process build = new ProcessBuilder(STASIS.toString(), "golden", "build", "--out", golden.toString(), "--ready", "dirtier ok round=2 ",
                "--", "dirtier", "pages=16384", "report=1", "--mem", "1G").redirectErrorStream(true).redirectOutput(dir.resolve("build.log").toFile()).start();
        if (build.waitFor() != 0) {
            throw new IllegalStateException("stasis golden build failed:\n" + Files.readString(dir.resolve("build.log")));
        }
        System.out.printf("golden image: dirtier, 1 GiB, 16384 pages (64 MiB) written, built in %.1f s, %d KiB%n", (System.nanoTime() - t) / 1e9,
                Files.size(golden) >> 10);

        for (int i = 0; i < 3; i++) { // warm-up: the first clones pay class loading and the image cache's first decode
            oneTest(GuestClone.of(golden));
        }
        Series plain = run("without a pool", tests, () -> GuestClone.of(golden));
        ClonePool pool = ClonePool.of(golden, 4);
        Series pooled = run("with a pool of 4", tests, pool::take);
        Series booted = scratch(scratch);

        System.out.printf("%n%d tests in a row, each a fresh clone of the 1 GiB golden guest that rewrites its 64 MiB (median [min-max])%n", tests);
        System.out.println("| | hand-over p50, ms | p99, ms | one test, ms | all tests, s | target |");
        System.out.println("|---|---:|---:|---:|---:|---|");
        plain.row("clone, no pool", "p50 <= 10 ms");
        pooled.row("clone from the pool", "p50 <= 1 ms");
        booted.row("boot from scratch (" + scratch + " tests)", "");

        long[] one = aliveTogether(golden, 1);
        long[] many = aliveTogether(golden, alive);
        long touched = 64; // MiB each clone rewrites, and about what the golden image holds (the shared pages)
        System.out.printf("%nclones alive at once, each past a round (its 64 MiB rewritten): guest-RAM mappings of this process, MiB%n");
        System.out.println("| clones | RSS | PSS | PSS per clone | target: PSS <= 2 x touched x clones + shared |");
        System.out.println("|---:|---:|---:|---:|---|");
        System.out.printf("| 1 | %d | %d | %d | <= %d |%n", one[0] >> 10, one[1] >> 10, one[1] >> 10, 2 * touched + touched);
        System.out.printf("| %d | %d | %d | %.1f | <= %d |%n", alive, many[0] >> 10, many[1] >> 10, (many[1] >> 10) / (double) alive,
                2 * touched * alive + touched);
        System.out.println("(a clone maps the golden image's decoded pages copy-on-write: a page it only reads is the one shared copy,"
                + " counted in every clone's RSS and split among them in PSS)");
    }

    /** Hand-over times (ms), per-test times (ms) and the whole run (s). */
    record Series(List<Double> handOver, List<Double> perTest, double totalSeconds) {
        void row(String what, String target) {
            System.out.printf("| %s | %.2f | %.2f | %s | %.1f | %s |%n", what, Stats.percentile(handOver, 50), Stats.percentile(handOver, 99),
                    Stats.summary(perTest), totalSeconds, target);
        }
    }

    @FunctionalInterface
    interface CloneSource {
        GuestClone get() throws Exception;
    }

    private static Series run(String what, int tests, CloneSource source) throws Exception {
        List<Double> handOver = new ArrayList<>(), perTest = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < tests; i++) {
            long t0 = System.nanoTime();
            GuestClone c = source.get();
            long t1 = System.nanoTime();
            oneTest(c);
            handOver.add((t1 - t0) / 1e6);
            perTest.add((System.nanoTime() - t0) / 1e6);
        }
        double total = (System.nanoTime() - start) / 1e9;
        System.out.printf("%s: hand-over p50 %.2f ms, p99 %.2f ms; %d tests in %.1f s%n", what, Stats.percentile(handOver, 50),
                Stats.percentile(handOver, 99), tests, total);
        return new Series(handOver, perTest, total);
    }

    /** The test: the clone's next round (every page rewritten), then it is closed. */
    private static void oneTest(GuestClone c) throws Exception {
        try (c) {
            c.awaitLine("dirtier ok round=\\d+ pages=16384 cpu=0", ROUND);
        }
    }

    /** The same test on a guest booted from scratch: to the golden image's ready point, then one round more. */
    private static Series scratch(int tests) throws Exception {
        List<Double> boot = new ArrayList<>(), perTest = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < tests; i++) {
            long t0 = System.nanoTime();
            try (RunningGuest g = RunningGuest.start(VmConfig.of(1L << 30, 1),
                    new BootSource.Flat(Guests.flatImage("dirtier"), Guests.slotValues("dirtier", DIRTIER)))) {
                if (g.await(dev.stasis.fixtures.GuestLines.DIRTIER_OK, m -> m.group(1).equals("2"), 0, ROUND) == null) {
                    throw new IllegalStateException("dirtier did not reach round 2: " + g.output());
                }
                long t1 = System.nanoTime();
                if (g.await(dev.stasis.fixtures.GuestLines.DIRTIER_OK, m -> m.group(1).equals("3"), 0, ROUND) == null) {
                    throw new IllegalStateException("dirtier did not reach round 3: " + g.output());
                }
                boot.add((t1 - t0) / 1e6);
            }
            perTest.add((System.nanoTime() - t0) / 1e6);
        }
        double total = (System.nanoTime() - start) / 1e9;
        System.out.printf("boot from scratch: to ready p50 %.0f ms; %d tests in %.1f s%n", Stats.percentile(boot, 50), tests, total);
        return new Series(boot, perTest, total);
    }

    /** {Rss, Pss} KiB of guest RAM with {@code n} clones alive, each past one round. */
    private static long[] aliveTogether(Path golden, int n) throws Exception {
        List<GuestClone> clones = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                GuestClone c = GuestClone.of(golden);
                clones.add(c);
                c.awaitLine("dirtier ok round=\\d+ pages=16384 cpu=0", ROUND);
            }
            return Smaps.guestRam("self");
        } finally {
            clones.forEach(GuestClone::close);
        }
    }
}
