package dev.stasis.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A child process of a benchmark, its output (stdout and stderr) collected as lines by a thread of its own, so it never blocks on a full pipe. */
final class Proc implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final List<Long> arrived = new ArrayList<>();
    private int cursor;
    private boolean ended;

    private Proc(Process process) {
        this.process = process;
        Thread t = new Thread(this::collect, "bench-output");
        t.setDaemon(true);
        t.start();
    }

    static Proc start(String... command) throws IOException {
        return new Proc(new ProcessBuilder(command).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE).start());
    }

    /** A process the caller started (its own environment), stderr merged into stdout. */
    static Proc of(Process process) {
        return new Proc(process);
    }

    private void collect() {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.ISO_8859_1))) {
            for (String line; (line = in.readLine()) != null; ) {
                synchronized (this) {
                    lines.add(line);
                    arrived.add(System.nanoTime());
                    notifyAll();
                }
            }
        } catch (IOException ignored) {
            // the process ended
        } finally {
            synchronized (this) {
                ended = true;
                notifyAll();
            }
        }
    }

    /** {@link #await}, returning when (System.nanoTime) the line arrived instead of the line. */
    synchronized long awaitTime(String text, int seconds) throws InterruptedException {
        await(text, seconds);
        return arrived.get(cursor - 1);
    }

    /** The next line from where the last call stopped that contains {@code text}; fails after {@code seconds} or when the process ends first. */
    synchronized String await(String text, int seconds) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (true) {
            for (; cursor < lines.size(); cursor++) {
                if (lines.get(cursor).contains(text)) {
                    return lines.get(cursor++);
                }
            }
            long left = deadline - System.nanoTime();
            if (ended || left <= 0) {
                throw new IllegalStateException((ended ? "process ended" : "no line in " + seconds + " s") + " before '" + text + "':\n" + String.join("\n", lines));
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    /** Every line so far. */
    synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    long pid() {
        return process.pid();
    }

    /** Kills the process (benchmarks end their guests this way) and waits for it. */
    @Override
    public void close() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
}
