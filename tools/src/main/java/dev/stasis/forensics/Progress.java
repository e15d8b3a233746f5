package dev.stasis.forensics;

import com.sun.jna.Native;
import java.io.PrintStream;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import java.util.function.LongSupplier;

/**
 * Progress of a long operation on one terminal line of stderr: bytes done of the total, rate, time left.
 * {@link #start} draws only when stderr is a terminal (isatty(2)), so redirected output and machine readers
 * see nothing of it; STASIS_PROGRESS=0 turns it off. Thread-safe: decompression threads report at once.
 */
public final class Progress implements LongConsumer, AutoCloseable {
    private static final long REDRAW_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

    private final PrintStream out;
    private final String label;
    private final long total;
    private final LongSupplier clock;
    private final long startNanos;
    private long done;
    private long lastDraw;
    private int lastWidth;
    private boolean closed;

    Progress(PrintStream out, String label, long total, LongSupplier clock) {
        this.out = out;
        this.label = label;
        this.total = Math.max(total, 0);
        this.clock = clock;
        this.startNanos = clock.getAsLong();
        this.lastDraw = startNanos - REDRAW_NANOS;
    }

    /** A progress line on stderr when it is a terminal, otherwise one that prints nothing. */
    public static Progress start(String label, long totalBytes) {
        if (out() == null) {
            return new Progress(null, label, totalBytes, System::nanoTime);
        }
        return new Progress(System.err, label, totalBytes, System::nanoTime);
    }

    /** Guest RAM bytes in a snapshot file (the total of a restore), or 0 when it cannot be told cheaply. */
    public static long snapshotMemoryBytes(java.nio.file.Path file) {
        try (var r = dev.stasis.snapshot.container.SnapshotReader.open(file)) {
            return r.memoryMap() == null ? 0 : r.memoryMap().totalBytes();
        } catch (java.io.IOException | RuntimeException e) {
            return 0; // the restore itself will say what is wrong with the file
        }
    }

    /** Whether {@link #start} would draw (stderr is a terminal and progress is not turned off). */
    public static boolean wanted() {
        return out() != null;
    }

    /** Prints nothing. */
    public static Progress silent() {
        return new Progress(null, "", 0, System::nanoTime);
    }

    private static PrintStream out() {
        if ("0".equals(System.getenv("STASIS_PROGRESS")) || !Tty.isTerminal(2)) {
            return null;
        }
        return System.err;
    }

    @Override
    public synchronized void accept(long bytes) {
        done += bytes;
        long now = clock.getAsLong();
        if (out != null && !closed && now - lastDraw >= REDRAW_NANOS) {
            lastDraw = now;
            draw(now);
        }
    }

    public synchronized long done() {
        return done;
    }

    /** Draws the final state and ends the line. */
    @Override
    public synchronized void close() {
        if (out != null && !closed) {
            draw(clock.getAsLong());
            out.print('\n');
            out.flush();
        }
        closed = true;
    }

    private void draw(long now) {
        String line = line(now);
        int pad = Math.max(0, lastWidth - line.length());
        lastWidth = line.length();
        out.print("\r" + line + " ".repeat(pad));
        out.flush();
    }

    /** e.g. {@code core  64.0 MiB / 128.0 MiB  50%  210.3 MiB/s  0:01 left}. */
    synchronized String line(long now) {
        double seconds = Math.max(1e-9, (now - startNanos) / 1e9);
        double rate = done / seconds;
        StringBuilder b = new StringBuilder(label).append("  ").append(bytes(done));
        if (total > 0) {
            b.append(" / ").append(bytes(total)).append(String.format("  %3d%%", Math.min(100, done * 100 / total)));
        }
        b.append("  ").append(bytes((long) rate)).append("/s");
        if (total > 0 && done < total && rate > 0) {
            b.append("  ").append(clockTime((long) Math.ceil((total - done) / rate))).append(" left");
        } else if (total > 0 && done >= total) {
            b.append("  ").append(clockTime((long) seconds)).append(" total");
        }
        return b.toString();
    }

    static String bytes(long n) {
        if (n < 1024) {
            return n + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format("%.1f %s", v, units[u]);
    }

    static String clockTime(long seconds) {
        return seconds >= 3600 ? String.format("%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
                : String.format("%d:%02d", seconds / 60, seconds % 60);
    }

    /** isatty(3) through JNA, bound on first use; false where libc cannot be bound. */
    static final class Tty {
        private static final boolean BOUND = bind();

        private static boolean bind() {
            try {
                Native.register(Tty.class, "c");
                return true;
            } catch (Throwable e) {
                return false;
            }
        }

        private static native int isatty(int fd);

        static boolean isTerminal(int fd) {
            return BOUND && isatty(fd) == 1;
        }
    }
}
