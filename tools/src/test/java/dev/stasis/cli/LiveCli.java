package dev.stasis.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A long-running {@code stasis} child process whose stdout lines a test can wait for. */
final class LiveCli implements AutoCloseable {
    private final Process process;
    private final List<String> lines = new ArrayList<>();
    private final StringBuilder err = new StringBuilder();
    private final StringBuilder text = new StringBuilder();
    private final Thread reader;
    private final Thread errReader;

    private LiveCli(Process process) {
        this.process = process;
        this.reader = new Thread(() -> pump(new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)), true));
        this.errReader = new Thread(() -> pump(new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8)), false));
        reader.setDaemon(true);
        errReader.setDaemon(true);
        reader.start();
        errReader.start();
    }

    static LiveCli start(String... args) throws IOException {
        return startWith(List.of(), args);
    }

    /** Like {@link #start}, the JVM run under {@code prefix} (e.g. {@code ip netns exec NAME}). */
    static LiveCli startWith(List<String> prefix, String... args) throws IOException {
        return startOn(System.getProperty("java.class.path"), prefix, args);
    }

    /** Like {@link #startWith(List, String...)}, on another class path (one another user can read). */
    static LiveCli startOn(String classPath, List<String> prefix, String... args) throws IOException {
        List<String> command = new ArrayList<>(prefix);
        command.addAll(CliProcess.javaCommand(classPath, List.of(), args));
        Process p = new ProcessBuilder(command).start();
        p.getOutputStream().close();
        return new LiveCli(p);
    }

    /** Reads a stream to its end, keeping every character (stdout's also split into lines). */
    private void pump(BufferedReader in, boolean stdout) {
        char[] buffer = new char[4096];
        StringBuilder partial = new StringBuilder();
        try (in) {
            int n;
            while ((n = in.read(buffer)) > 0) {
                synchronized (this) {
                    (stdout ? text : err).append(buffer, 0, n);
                    if (stdout) {
                        for (int i = 0; i < n; i++) {
                            if (buffer[i] == '\n') {
                                lines.add(partial.toString());
                                partial.setLength(0);
                            } else {
                                partial.append(buffer[i]);
                            }
                        }
                    }
                    notifyAll();
                }
            }
        } catch (IOException ignored) {
            // The process ended.
        }
        synchronized (this) {
            if (stdout && partial.length() > 0) {
                lines.add(partial.toString()); // an unfinished last line still counts as printed
            }
        }
    }

    /** Everything the process wrote to stdout, byte for byte, unfinished last line included. */
    synchronized String text() {
        return text.toString();
    }

    synchronized List<String> lines() {
        return List.copyOf(lines);
    }

    synchronized String output() {
        return String.join("\n", lines) + "\n--- stderr ---\n" + err;
    }

    /** The first line from index {@code from} on matching {@code pattern} and {@code condition}, or null on timeout. */
    synchronized Matcher await(Pattern pattern, Predicate<Matcher> condition, int from, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int i = from;
        while (true) {
            for (; i < lines.size(); i++) {
                Matcher m = pattern.matcher(lines.get(i));
                if (m.matches() && condition.test(m)) {
                    return m;
                }
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return null;
            }
            wait(Math.max(1, Math.min(left / 1_000_000, 100)));
        }
    }

    /** Exit status, or null if still running after {@code timeout}; once it exits, every line it printed is read. */
    Integer awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            return null;
        }
        reader.join(5000); // the pipes may still hold the last lines when the process has gone
        errReader.join(5000);
        return process.exitValue();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    long pid() {
        return process.pid();
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
