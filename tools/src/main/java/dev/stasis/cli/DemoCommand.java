package dev.stasis.cli;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.RestoreMode;
import dev.stasis.fixtures.Guests;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code stasis demo}: boots the ticker guest, snapshots it to a file, restores the file into a new VM
 * and shows the guest going on from where it was: its interrupt count keeps rising at the same rate.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Boot a test guest, snapshot it to a file, restore it into a new VM, and show that it goes on.")
final class DemoCommand implements Callable<Integer> {
    private static final Pattern TICK = Pattern.compile("ticker n=(\\d+) tsc=(\\d+)");

    @Option(names = "--seconds", defaultValue = "3", description = "how long the guest runs before and after (default ${DEFAULT-VALUE})")
    int seconds;

    @Option(names = "--keep", paramLabel = "FILE", description = "keep the snapshot at FILE (default: a temporary file, deleted)")
    Path keep;

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        Path file = keep != null ? keep.toAbsolutePath() : Files.createTempFile("stasis-demo-", ".stasis");
        try {
            VmConfig config = VmConfig.of(64 << 20, 1);
            Map<String, String> params = Map.of("mode", "periodic", "period_us", "1600", "every", "312");
            out.println("demo: booting the 'ticker' guest: a LAPIC timer every 1.6 ms, a line every 312 interrupts (~0.5 s)");
            GuestLines before = new GuestLines(out);
            Machine first = Machine.create(config, before);
            first.boot(new BootSource.Flat(Guests.flatImage("ticker"), Guests.slotValues("ticker", params)));
            first.start();
            Thread.sleep(seconds * 1000L);

            long t0 = System.nanoTime();
            first.vm().pauseAll();
            WriteReport report = Checkpoint.save(first, file, WriterOptions.defaults());
            double pausedMs = (System.nanoTime() - t0) / 1e6;
            first.vm().stop(new VmExit(VmExit.Kind.SAVED, 0, "saved", ""));
            first.close();
            out.printf("demo: snapshot written to %s: %,d bytes for %d MiB of RAM, guest paused %.0f ms; first VM closed%n",
                    file, report.bytes(), config.layout().totalSize() >> 20, pausedMs);

            out.println("demo: restoring the file into a new VM (lazily: it starts before its memory is read)");
            GuestLines after = new GuestLines(out);
            try (Machine second = Checkpoint.restore(file, after, Checkpoint.Expect.ANY, RestoreMode.LAZY, bytes -> { })) {
                second.notes().forEach(n -> out.println("demo: note: " + n));
                second.start();
                Thread.sleep(seconds * 1000L);
                second.vm().stop(VmExit.hostStop("demo over"));
            }

            if (before.lastCount < 0 || after.firstCount < 0 || after.lastCount <= after.firstCount) {
                out.println("demo: FAILED: the restored guest did not go on (last count before " + before.lastCount
                        + ", after " + after.firstCount + ".." + after.lastCount + ")");
                return 1;
            }
            out.printf("demo: the guest went on: its count was %d when saved, %d at the first line after restore, and %d at the end%n",
                    before.lastCount, after.firstCount, after.lastCount);
            return 0;
        } finally {
            if (keep == null) {
                Files.deleteIfExists(file);
            }
        }
    }

    /** Prints the guest's console lines indented, and remembers the ticker counts it saw. */
    private static final class GuestLines extends OutputStream {
        private final PrintStream out;
        private final StringBuilder line = new StringBuilder();
        long firstCount = -1;
        long lastCount = -1;

        GuestLines(PrintStream out) {
            this.out = out;
        }

        @Override
        public synchronized void write(int b) {
            if (b != '\n') {
                line.append((char) (b & 0xff));
                return;
            }
            String text = line.toString();
            line.setLength(0);
            out.println("    guest | " + text);
            Matcher m = TICK.matcher(text);
            if (m.matches()) {
                lastCount = Long.parseLong(m.group(1));
                if (firstCount < 0) {
                    firstCount = lastCount;
                }
            }
        }
    }
}
