package dev.stasis.bench;

import com.sun.jna.Pointer;
import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.LiveSnapshot;
import dev.stasis.checkpoint.RestoreMode;
import dev.stasis.memory.LazyRam;
import dev.stasis.memory.PointInTimeRam;
import dev.stasis.fixtures.Guests;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.ReadyVms;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

/**
 * Issue 3's snapshot benchmark: a 1 GiB guest with a 256 MiB region loaded at 256 MiB (through the
 * {@code --load} path), its 4 KiB pages in the repeating order kernel-image bytes (the installed vmlinuz,
 * page after page as a page cache holds it, starting again at its first page after its last, which is
 * zero-padded), generated text, zero, zero; the rest of RAM zero. {@code --byte-wrap} instead reads the
 * kernel bytes on across its end, so its copies fall at different offsets within pages. It measures, in one run:
 * the time to write a full snapshot (pause to resume), the file size against the non-zero bytes, the time
 * from a restore request to a running guest inside this already running process, and host memory
 * bandwidth as the physical reference; and the same snapshot taken live ({@link LiveSnapshot}): how long the
 * guest stood still (the pause that saves vCPU and device state and write-protects RAM) and how long the
 * whole write took while it ran, and that pause as the guest saw it (the guest is {@code ticker}, TSC-deadline every
 * 1 ms, a line a tick: the largest gap in its stamps, less one period); last, eager and lazy restores of the same pattern
 * in a guest that halts ({@code idle}), whose vCPU leaves the host's cores to a lazy restore's fill, and lazy ones with a
 * VM of its shape kept ready ({@link ReadyVms}). Beside the live pause as ticker saw it, two references: a bare pause of
 * the same length, and that pause with RAM write-protected in it (nothing written). Usage:
 * {@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.SnapshotBench [--level N] [--threads N] [--rounds N]}
 */
public final class SnapshotBench {
    private SnapshotBench() {}

    static final long RAM = 1L << 30;
    static final long REGION_GPA = 256L << 20;
    static final int REGION_BYTES = 256 << 20;
    static final int PAGE = 4096;
    /** Rounds run before the measured ones: the JIT compiles the writer and reader over the first few. */
    static final int WARMUP = 3;
    /** ticker's period while the benchmark runs. */
    static final int TICK_US = 1000;

    /**
     * The guest's console, kept as ticker's TSC stamps: the largest step between two stamps, less one period, is the
     * longest the guest was kept from running (a TSC-deadline ticker catches up, so it never skips a stamp).
     */
    static final class TickLog extends OutputStream {
        private final StringBuilder line = new StringBuilder();
        private final List<Long> tsc = new ArrayList<>();

        @Override
        public synchronized void write(int b) {
            if (b != '\n') {
                line.append((char) (b & 0xff));
                return;
            }
            java.util.regex.Matcher m = dev.stasis.fixtures.GuestLines.TICKER_TICK.matcher(line.toString().strip());
            if (m.matches()) {
                tsc.add(Long.parseLong(m.group(2)));
            }
            line.setLength(0);
        }

        synchronized int count() {
            return tsc.size();
        }

        /** Over the stamps from index {@code from - 1} on, the largest step less one period, in ms. */
        synchronized double largestGapMs(int from, int tscKhz, int periodUs) {
            return largestGapMs(from, tsc.size(), tscKhz, periodUs);
        }

        /** The same over the stamps {@code from - 1} to {@code to}. */
        synchronized double largestGapMs(int from, int to, int tscKhz, int periodUs) {
            long largest = 0;
            for (int i = Math.max(1, from); i < Math.min(to, tsc.size()); i++) {
                largest = Math.max(largest, tsc.get(i) - tsc.get(i - 1));
            }
            return Math.max(0, largest / (double) tscKhz - periodUs / 1000.0);
        }
    }

    public static void main(String[] args) throws Exception {
        int level = 1;
        int threads = Runtime.getRuntime().availableProcessors();
        int rounds = 5;
        int chunkKib = 0;
        boolean byteWrap = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--level" -> level = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Math.max(3, Integer.parseInt(args[++i]));
                case "--chunk-kib" -> chunkKib = Integer.parseInt(args[++i]);
                case "--byte-wrap" -> byteWrap = true;
                default -> throw new IllegalArgumentException("unknown option " + args[i]
                        + "; usage: SnapshotBench [--level N] [--threads N] [--rounds N] [--chunk-kib N] [--byte-wrap]");
            }
        }
        Path work = Files.createTempDirectory("stasis-snapbench-");
        Path region = work.resolve("region.img");
        Path file = work.resolve("bench.stasis");
        Path idleFile = work.resolve("idle.stasis");
        try {
            long nonZero = writeRegion(region, byteWrap);
            WriterOptions options = WriterOptions.defaults().withLevel(level).withThreads(threads);
            if (chunkKib > 0) {
                options = options.withChunkSize(chunkKib * 1024);
            }
            double bandwidth = memoryBandwidthGiBs();
            List<Double> saveMs = new ArrayList<>();
            double firstSaveMs = 0;
            Rounds eager;
            Rounds lazy;
            List<Double> livePausedMs = new ArrayList<>();
            List<Double> liveTotalMs = new ArrayList<>();
            long fileBytes;
            TickLog ticks = new TickLog();
            List<Double> liveGuestGapMs = new ArrayList<>();
            List<Double> liveFirstGapMs = new ArrayList<>();
            List<Double> bareGapMs = new ArrayList<>();
            List<Double> protectGapMs = new ArrayList<>();
            try (Machine m = Machine.create(VmConfig.of(RAM, 1), ticks)) {
                m.loadFile(region, REGION_GPA);
                // ticker (TSC deadline, 1 ms, a line each tick): the gap in its TSC stamps is the pause as the guest saw it
                m.boot(new BootSource.Flat(Guests.flatImage("ticker"), Guests.slotValues("ticker",
                        java.util.Map.of("mode", "deadline", "period_us", String.valueOf(TICK_US), "every", "1"))));
                m.start();
                Thread.sleep(300);
                for (int r = 0; r < rounds + WARMUP; r++) {
                    long t0 = System.nanoTime();
                    m.vm().pauseAll();
                    WriteReport report = Checkpoint.save(m, file, options);
                    m.vm().resumeAll();
                    double ms = (System.nanoTime() - t0) / 1e6;
                    if (r == 0) {
                        firstSaveMs = ms; // this process's first: the JIT has not compiled the writer yet
                    }
                    if (r >= WARMUP) {
                        saveMs.add(ms);
                    }
                    if (r == 0 || System.getenv("STASIS_BENCH_VERBOSE") != null) {
                        System.out.printf("memory: %d pages, %d zero, %d stored in %d chunks; sections %d ms, memory %d ms, commit %d ms, total %d ms%n",
                                report.memory().pages(), report.memory().zeroPages(), report.memory().storedPages(), report.memory().chunks(),
                                report.sections().toMillis(), report.memory().elapsed().toMillis(), report.commit().toMillis(), report.total().toMillis());
                    }
                }
                fileBytes = Files.size(file);
                String cause = LiveSnapshot.unavailabilityCause();
                if (cause != null) {
                    System.out.println("no live rounds: " + cause);
                }
                for (int r = 0; cause == null && r < rounds + WARMUP; r++) {
                    long t0 = System.nanoTime();
                    int from = ticks.count();
                    try (LiveSnapshot live = LiveSnapshot.take(m)) {
                        live.write(file, options, bytes -> { });
                        Thread.sleep(50); // ticks after the write, so the window holds the whole snapshot
                        if (r >= WARMUP) {
                            livePausedMs.add(live.paused().toNanos() / 1e6);
                            liveTotalMs.add((System.nanoTime() - t0) / 1e6);
                            liveGuestGapMs.add(ticks.largestGapMs(from, m.vm().tscKhz(), TICK_US));
                            liveFirstGapMs.add(ticks.largestGapMs(from, from + 30, m.vm().tscKhz(), TICK_US));
                            if (System.getenv("STASIS_BENCH_VERBOSE") != null) {
                                System.out.printf("live: guest gap %.2f ms over the whole write, %.2f ms in its first 30 ticks%n",
                                        ticks.largestGapMs(from, m.vm().tscKhz(), TICK_US), ticks.largestGapMs(from, from + 30, m.vm().tscKhz(), TICK_US));
                            }
                        }
                        if (r == WARMUP || System.getenv("STASIS_BENCH_VERBOSE") != null) {
                            System.out.printf("live: paused %.2f ms, %s%n", live.paused().toNanos() / 1e6, live.stats());
                        }
                    }
                }
                // The physical references for the live pause as the guest sees it: the vCPUs paused as long as a live
                // snapshot's pause and resumed, with nothing else; then the same with RAM write-protected in it.
                if (cause == null) {
                    double pauseMs = PortIoBench.median(array(livePausedMs));
                    for (int r = 0; r < rounds + WARMUP; r++) {
                        int from = ticks.count();
                        pauseFor(m, pauseMs, () -> { });
                        if (r >= WARMUP) {
                            bareGapMs.add(ticks.largestGapMs(from, m.vm().tscKhz(), TICK_US));
                        }
                    }
                    for (int r = 0; r < rounds + WARMUP; r++) {
                        int from = ticks.count();
                        try (PointInTimeRam ram = PointInTimeRam.prepare(m.memory())) {
                            pauseFor(m, pauseMs, ram::freeze);
                        }
                        if (r >= WARMUP) {
                            protectGapMs.add(ticks.largestGapMs(from, m.vm().tscKhz(), TICK_US));
                        }
                    }
                }
                // The saved guest stands still from here: its ticker (a line a millisecond) took a core from each restore,
                // and a lazy one's fill runs at background priority (every page in took 2.2 s beside it, 0.4-0.5 s without).
                m.vm().pauseAll();
                List<Rounds> both = restoreRounds(file, List.of(RestoreMode.EAGER, RestoreMode.LAZY), rounds, false);
                eager = both.get(0);
                lazy = both.get(1);
            }
            // The same pattern in a guest that halts (idle): a restored ticker's console, a line a millisecond, costs this
            // emulating KVM most of a core (~8 us an exit), which a lazy fill then shares; on hardware KVM it would not.
            try (Machine m = Machine.create(VmConfig.of(RAM, 1), OutputStream.nullOutputStream())) {
                m.loadFile(region, REGION_GPA);
                m.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.slotValues("idle", java.util.Map.of())));
                m.start();
                Thread.sleep(100);
                m.vm().pauseAll();
                Checkpoint.save(m, idleFile, options);
            }
            List<Rounds> idle = restoreRounds(idleFile, List.of(RestoreMode.EAGER, RestoreMode.LAZY, RestoreMode.LAZY.copyingPages()), rounds, false);
            Rounds idleEager = idle.get(0), idleLazy = idle.get(1), idleCopied = idle.get(2);
            // A process that restores this shape again keeps a VM built ahead (ReadyVms); each round finds one.
            Checkpoint.keepVmReadyFor(idleFile);
            Rounds readyLazy = restoreRounds(idleFile, RestoreMode.LAZY, rounds, true);
            ReadyVms.keep(null);
            System.out.printf("snapshot bench: 1 GiB guest, 256 MiB pattern at 256 MiB (kernel pages %s), zstd level %d, %d threads, %d rounds (%s)%n%n",
                    byteWrap ? "byte-wrapped" : "page-aligned", level, threads, rounds, System.getProperty("java.vm.version"));
            System.out.printf("%-44s %10s %10s %10s%n", "", "median", "min", "target");
            row("snapshot, pause to resume, ms", saveMs, 0, "<= 180");
            System.out.printf("%-44s %10.0f %10s %10s%n", "  the first in this process (cold JIT), ms", firstSaveMs, "", "");
            if (!livePausedMs.isEmpty()) {
                row("live snapshot, guest stood still, ms", livePausedMs, 2, "<= 5");
                row("  the same, from the guest (ticker TSC gap), ms", liveGuestGapMs, 2, "<= 5");
                row("  the same, its first 30 ticks only, ms", liveFirstGapMs, 2, "");
                row("  a bare pause as long, from the guest, ms", bareGapMs, 2, "");
                row("  the same with RAM protected in it, ms", protectGapMs, 2, "");
                row("live snapshot, whole write (guest runs), ms", liveTotalMs, 0, "");
            }
            row("restore request to running guest, ms", eager.started(), 0, "<= 200");
            System.out.printf("%-44s %10.0f %10s %10s%n", "  the first in this process (cold JIT), ms", eager.firstMs(), "", "");
            row("lazy restore, request to running guest, ms", lazy.started(), 2, "");
            row("  to the guest's first instruction, ms", lazy.entered(), 2, "<= 5");
            row("lazy restore, request to every page in, ms", lazy.resident(), 0, "<= eager");
            row("the same pattern, guest idle: eager restore, ms", idleEager.started(), 0, "");
            row("  lazy, request to running guest, ms", idleLazy.started(), 2, "");
            row("  lazy, to the guest's first instruction, ms", idleLazy.entered(), 2, "<= 5");
            row("  lazy, request to every page in, ms", idleLazy.resident(), 0, "<= eager");
            row("  lazy copying pages (kernels before 6.8), ms", idleCopied.resident(), 0, "");
            row("  RAM in huge pages then: eager, MiB", idleEager.hugeMib(), 0, "");
            row("    lazy, MiB", idleLazy.hugeMib(), 0, "");
            row("    lazy copying pages, MiB", idleCopied.hugeMib(), 0, "");
            row("  then a live snapshot stops the guest: eager, ms", idleEager.livePauseMs(), 2, "<= 5");
            row("    lazy, ms", idleLazy.livePauseMs(), 2, "<= 5");
            row("    lazy copying pages, ms", idleCopied.livePauseMs(), 2, "<= 5");
            row("  lazy, a VM kept ready: to running guest, ms", readyLazy.started(), 2, "");
            row("    to the guest's first instruction, ms", readyLazy.entered(), 2, "<= 5");
            System.out.printf("%-44s %10.1f %10s %10s%n", "file size, MiB", fileBytes / 1048576.0, "", "");
            System.out.printf("%-44s %9.1f%% %10s %10s%n", "file size / non-zero guest bytes", 100.0 * fileBytes / nonZero, "", "<= 40%");
            System.out.printf("%-44s %10.1f %10s %10s%n", "host memory bandwidth (copy), GiB/s", bandwidth, "", "");
            System.out.printf("%-44s %10.1f %10s %10s%n", "1 GiB at that bandwidth, ms", 1000 / bandwidth, "", "");
            System.out.printf("%nmeasured rounds (after %d warm-up rounds): snapshot ms %s; restore ms %s; live paused ms %s%n", WARMUP, round(saveMs), round(eager.started()),
                    livePausedMs.stream().map(d -> String.format("%.2f", d)).toList());
        } finally {
            Files.deleteIfExists(region);
            Files.deleteIfExists(file);
            Files.deleteIfExists(idleFile);
            Files.deleteIfExists(work);
        }
    }

    /**
     * Restore rounds of one file: each round's request to running guest (the call that started the vCPUs returned), to
     * the first vCPU's first KVM_RUN (the guest's first instruction), and to every page in (the same as started when eager).
     */
    record Rounds(double firstMs, List<Double> started, List<Double> entered, List<Double> resident, List<Double> hugeMib, List<Double> livePauseMs) {}


    /**
     * {@link #WARMUP} and then {@code rounds} restores of {@code file} in this process in each of {@code modes}, the
     * modes taking turns round by round (so a slow minute of this shared host falls on all of them, not on one), each
     * guest run and stopped; {@code ready}: each waits first for the VM kept ready for it, and must have taken it.
     * One {@link Rounds} per mode, in their order.
     */
    static List<Rounds> restoreRounds(Path file, List<RestoreMode> modes, int rounds, boolean ready) throws IOException, InterruptedException {
        List<List<Sample>> samples = new ArrayList<>();
        modes.forEach(m -> samples.add(new ArrayList<>()));
        for (int r = 0; r < rounds + WARMUP; r++) {
            for (int k = 0; k < modes.size(); k++) {
                samples.get(k).add(restoreOnce(file, modes.get(k), ready, r == WARMUP));
            }
        }
        List<Rounds> out = new ArrayList<>();
        for (List<Sample> s : samples) {
            List<Sample> measured = s.subList(WARMUP, s.size());
            out.add(new Rounds(s.get(0).started(), measured.stream().map(Sample::started).toList(), measured.stream().map(Sample::entered).toList(),
                    measured.stream().map(Sample::resident).toList(), measured.stream().map(Sample::hugeMib).toList(),
                    measured.stream().map(Sample::livePauseMs).toList()));
        }
        return out;
    }

    static Rounds restoreRounds(Path file, RestoreMode mode, int rounds, boolean ready) throws IOException, InterruptedException {
        return restoreRounds(file, List.of(mode), rounds, ready).get(0);
    }

    /**
     * One restore's figures: ms to the started guest, to its first instruction, to every page in; RAM in huge pages then,
     * and the pause of a live snapshot taken then (protecting RAM costs one entry per huge page, 512 per 2 MiB else).
     */
    record Sample(double started, double entered, double resident, double hugeMib, double livePauseMs) {}

    static Sample restoreOnce(Path file, RestoreMode mode, boolean ready, boolean report) throws IOException, InterruptedException {
        if (ready && !ReadyVms.awaitReady(Duration.ofSeconds(10))) {
            throw new IllegalStateException("no VM was kept ready for " + file);
        }
        long taken = ReadyVms.taken();
        long t0 = System.nanoTime();
        Machine restored = Checkpoint.restore(file, OutputStream.nullOutputStream(), Checkpoint.Expect.ANY, mode, b -> { });
        restored.start();
        double start = (System.nanoTime() - t0) / 1e6;
        double enter = (firstRun(restored) - t0) / 1e6;
        if (ready && ReadyVms.taken() != taken + 1) {
            throw new IllegalStateException("the restore did not take the VM kept ready");
        }
        restored.memory().awaitResident();
        double in = (System.nanoTime() - t0) / 1e6;
        long ramAt = Pointer.nativeValue(restored.memory().mapping(0).address());
        double hugeMib = Smaps.hugePages(ramAt, ramAt + restored.memory().mapping(0).size()) / 1024.0;
        double livePause = -1;
        if (LiveSnapshot.unavailabilityCause() == null) {
            try (LiveSnapshot live = LiveSnapshot.take(restored)) { // closed unwritten: only its pause counts here
                livePause = live.paused().toNanos() / 1e6;
            }
        }
        if (mode.lazy() && (report || System.getenv("STASIS_BENCH_VERBOSE") != null)) {
            LazyRam ram = restored.memory().lazyRestore();
            System.out.printf("lazy: started %.2f ms, resident %.0f ms, %s%n", start, in, ram == null ? restored.notes() : ram.stats());
        }
        restored.vm().stop(VmExit.hostStop("bench"));
        restored.close();
        return new Sample(start, enter, in, hugeMib, livePause);
    }

    /** The first KVM_RUN of any of {@code m}'s vCPUs (System.nanoTime()), waiting for it up to 10 s. */
    static long firstRun(Machine m) {
        long until = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < until) {
            long first = m.vm().vcpus().stream().mapToLong(dev.stasis.vcpu.Vcpu::firstRunNanos).filter(t -> t != 0).min().orElse(0);
            if (first != 0) {
                return first;
            }
            java.util.concurrent.locks.LockSupport.parkNanos(20_000); // the vCPU stamps its own time: no need to take a core from it
        }
        throw new IllegalStateException("no vCPU entered the guest within 10 s of its start");
    }

    /** Pauses {@code m}'s vCPUs, runs {@code inPause}, resumes them {@code pauseMs} after the pause began, then lets ticker run 100 ms. */
    static void pauseFor(Machine m, double pauseMs, Runnable inPause) throws InterruptedException {
        long t0 = System.nanoTime();
        m.vm().pauseAll();
        inPause.run();
        while (System.nanoTime() - t0 < pauseMs * 1e6) {
            Thread.onSpinWait();
        }
        m.vm().resumeAll();
        Thread.sleep(100);
    }

    /** One line of the table: {@code values}' median and minimum with {@code decimals} decimals, and the target. */
    private static void row(String label, List<Double> values, int decimals, String target) {
        String f = "%10." + decimals + "f";
        System.out.printf("%-44s " + f + " " + f + " %10s%n", label, PortIoBench.median(array(values)), PortIoBench.min(array(values)), target);
    }

    /** Writes the 256 MiB region; returns its non-zero bytes. */
    static long writeRegion(Path out, boolean byteWrap) throws IOException {
        byte[] kernel = Files.readAllBytes(vmlinuz());
        if (!byteWrap) {
            kernel = Arrays.copyOf(kernel, (kernel.length + PAGE - 1) / PAGE * PAGE); // its last page zero-padded
        }
        byte[] text = generatedText(REGION_BYTES / 4);
        byte[] region = new byte[REGION_BYTES];
        int kernelAt = 0;
        int textAt = 0;
        for (int page = 0; page < REGION_BYTES / PAGE; page++) {
            int at = page * PAGE;
            switch (page % 4) {
                case 0 -> {
                    for (int i = 0; i < PAGE; i++) {
                        region[at + i] = kernel[kernelAt];
                        kernelAt = (kernelAt + 1) % kernel.length;
                    }
                }
                case 1 -> {
                    System.arraycopy(text, textAt, region, at, PAGE);
                    textAt += PAGE;
                }
                default -> { } // zero, zero
            }
        }
        Files.write(out, region);
        return REGION_BYTES / 2;
    }

    static Path vmlinuz() throws IOException {
        try (Stream<Path> boot = Files.list(Path.of("/boot"))) {
            return boot.filter(p -> p.getFileName().toString().startsWith("vmlinuz-")).sorted().findFirst()
                    .orElseThrow(() -> new IOException("no /boot/vmlinuz-*: install linux-image-cloud-amd64"));
        }
    }

    /** English-like text: words drawn from a small vocabulary, lines of varying length. */
    static byte[] generatedText(int bytes) {
        String[] words = ("the of and to in is was for on that with as by it from at this be are or an which have not had "
                + "guest memory page state snapshot restore kernel device timer interrupt vcpu register file host migration "
                + "stream checksum section version field record chunk zero compress level thread write read map range").split(" ");
        Random random = new Random(42);
        StringBuilder b = new StringBuilder(bytes + 64);
        int line = 0;
        while (b.length() < bytes) {
            String w = words[random.nextInt(words.length)];
            b.append(w);
            line += w.length() + 1;
            if (line > 60 + random.nextInt(20)) {
                b.append(".\n");
                line = 0;
            } else {
                b.append(' ');
            }
        }
        return Arrays.copyOf(b.toString().getBytes(java.nio.charset.StandardCharsets.US_ASCII), bytes);
    }

    /** Direct-buffer copy bandwidth over 256 MiB, best of 5: the physical reference for the figures. */
    static double memoryBandwidthGiBs() {
        ByteBuffer from = ByteBuffer.allocateDirect(REGION_BYTES);
        ByteBuffer to = ByteBuffer.allocateDirect(REGION_BYTES);
        for (int i = 0; i < REGION_BYTES; i += PAGE) {
            from.put(i, (byte) i);
            to.put(i, (byte) 0);
        }
        double best = 0;
        for (int r = 0; r < 5; r++) {
            long t0 = System.nanoTime();
            to.clear().put(from.clear());
            double s = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, REGION_BYTES / s / (1L << 30));
        }
        return best;
    }

    private static double[] array(List<Double> v) {
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static String round(List<Double> v) {
        return v.stream().map(d -> String.valueOf(Math.round(d))).toList().toString();
    }
}
