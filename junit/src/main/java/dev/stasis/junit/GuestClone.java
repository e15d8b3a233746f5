package dev.stasis.junit;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.RestoreMode;
import dev.stasis.machine.Machine;
import dev.stasis.memory.GuestMemory;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmExit;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.SecureRandom;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A guest restored from a golden snapshot for one test (or class): running, its console captured line by line and
 * writable, its memory readable, its exit awaitable. Its RAM is mapped copy-on-write from the golden file's decoded
 * image (one per file, shared by every clone of it, in a cache only this user may write), so a clone's writes never
 * reach the file or the other clones. Closed by the extension after its test.
 */
public final class GuestClone implements AutoCloseable {
    private static final SecureRandom RANDOM = new SecureRandom();
    private final Path golden;
    private final int number;
    private final Machine machine;
    private final Console console;
    /** The console's input, attached at the first {@link #type} (its reader is a thread: not made for every clone). */
    private volatile PipedOutputStream input;
    private final byte[] generationId;
    private volatile boolean fromPool;
    private volatile boolean closed;
    private final java.util.concurrent.atomic.AtomicBoolean closing = new java.util.concurrent.atomic.AtomicBoolean();

    private GuestClone(Path golden, int number, Machine machine, Console console, byte[] generationId) {
        this.golden = golden;
        this.number = number;
        this.machine = machine;
        this.console = console;
        this.generationId = generationId;
    }

    /** Clones made in this JVM, per golden image: each clone's number. */
    private static final java.util.Map<Path, java.util.concurrent.atomic.AtomicInteger> NUMBERS = new java.util.concurrent.ConcurrentHashMap<>();

    /** The next clone number of {@code golden} in this JVM, from 1. */
    static int nextNumber(Path golden) {
        return NUMBERS.computeIfAbsent(golden.toAbsolutePath().normalize(), g -> new java.util.concurrent.atomic.AtomicInteger()).incrementAndGet();
    }

    /**
     * A clone of {@code golden}, running, for code that manages clones itself (the extension does it for tests):
     * {@link #close} it when done.
     */
    public static GuestClone of(Path golden) throws IOException {
        Path g = golden.toAbsolutePath().normalize();
        return of(g, nextNumber(g), -1);
    }

    /** Clone {@code number} of {@code golden}, started; its identity written at {@code identityAt} first (-1: not written). */
    static GuestClone of(Path golden, int number, long identityAt) throws IOException {
        return of(golden, number, identityAt, false);
    }

    /**
     * {@link #of(Path, int, long)}; {@code paused}: its vCPUs start parked before their first instruction, to be
     * handed over by {@link #resume} (a pool's clones).
     */
    static GuestClone of(Path golden, int number, long identityAt, boolean paused) throws IOException {
        requireExists(golden);
        checkCurrent(golden);
        Console console = new Console();
        Machine machine;
        try {
            machine = Checkpoint.restore(golden, console, Checkpoint.Expect.ANY, RestoreMode.sharedImage(imageCache()), bytes -> { });
        } catch (IOException | RuntimeException e) {
            // Another format, a CPU this host cannot give, a damaged file: the test fails saying which image and why.
            throw new IOException("golden image " + golden + " cannot be restored here: " + e.getMessage(), e);
        }
        try {
            byte[] id = new byte[16];
            RANDOM.nextBytes(id);
            if (identityAt >= 0) {
                ByteBuffer identity = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN).putLong(number).put(id);
                machine.memory().write(identityAt, identity.array()); // before a vCPU runs: the guest finds it on its first look
            }
            if (paused) {
                machine.vm().pauseAll(); // no vCPU runs yet: each parks before its first KVM_RUN
            }
            machine.start();
            return new GuestClone(golden, number, machine, console, id);
        } catch (RuntimeException e) {
            machine.close();
            throw e;
        }
    }

    /** Refuses, saying where it was looked for, a golden image that is not there. */
    static void requireExists(Path golden) throws IOException {
        if (!Files.isRegularFile(golden)) {
            throw new IOException("golden snapshot " + golden.toAbsolutePath() + " does not exist (@StasisGuest(golden = ...) is relative to "
                    + Path.of("").toAbsolutePath() + ")");
        }
    }

    /** Golden images found current in this JVM: their inputs are hashed once, not per clone. */
    private static final java.util.Set<Path> CURRENT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Refuses a golden image whose build inputs changed since {@code stasis golden build} made it. */
    private static void checkCurrent(Path golden) throws IOException {
        if (CURRENT.contains(golden)) {
            return;
        }
        String stale;
        try (var reader = dev.stasis.snapshot.container.SnapshotReader.open(golden)) {
            stale = dev.stasis.golden.GoldenRecipe.staleness(reader);
        } catch (IOException | RuntimeException e) {
            throw new IOException("golden image " + golden + " cannot be restored here: " + e.getMessage(), e);
        }
        if (stale != null) {
            throw new IOException("golden image " + golden + " is " + stale);
        }
        CURRENT.add(golden);
    }

    /** The cache of decoded golden images: one directory per user, only its owner may write it. */
    private static Path imageCache() throws IOException {
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "stasis-golden-images-" + System.getProperty("user.name"));
        if (!Files.isDirectory(dir)) {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        }
        return dir;
    }

    /** Lets a clone made paused (by a pool) run. */
    void resume() {
        machine.vm().resumeAll();
    }

    /** True when this clone was made ahead by a pool and handed over by resuming it. */
    public boolean fromPool() {
        return fromPool;
    }

    void handedOverFromPool() {
        fromPool = true;
    }

    /** The fresh random generation ID of this clone (written for the guest where {@link StasisGuest#identityAt} says). */
    public byte[] generationId() {
        return generationId.clone();
    }

    /** Which clone of its golden image this is in this JVM, from 1. */
    public int number() {
        return number;
    }

    public Path golden() {
        return golden;
    }

    /** Every console line so far (a line is complete at its newline). */
    public List<String> lines() {
        open();
        return console.lines();
    }

    /** The console so far, as text. */
    public String output() {
        open();
        return console.text();
    }

    /**
     * The first console line from the start matching {@code regex} whole; fails the test (an {@link AssertionError}
     * with the console) when none comes within {@code timeout}.
     */
    public Matcher awaitLine(String regex, Duration timeout) throws InterruptedException {
        open();
        Matcher m = console.await(Pattern.compile(regex), timeout);
        if (m == null) {
            throw new AssertionError("the guest printed no line matching '" + regex + "' within " + timeout.toMillis() + " ms; its console:\n" + tail(40));
        }
        return m;
    }

    /** Writes {@code text} to the guest's console (its UART's input). */
    public void type(String text) throws IOException {
        open();
        PipedOutputStream in = consoleInput();
        in.write(text.getBytes(StandardCharsets.ISO_8859_1));
        in.flush();
    }

    /** The console's input, attached now if it was not (not under the lock a blocked write would hold: close takes it). */
    private synchronized PipedOutputStream consoleInput() throws IOException {
        if (input == null) {
            PipedOutputStream in = new PipedOutputStream();
            machine.attachConsoleInput(new PipedInputStream(in, 4096));
            input = in;
        }
        return input;
    }

    /** The guest's RAM, readable ({@code memory().read(gpa, n)}) and writable, as the VMM sees it. */
    public GuestMemory memory() {
        open();
        return machine.memory();
    }

    /** A clone lives as long as its test (or class): one used after that is refused by name, not a crash. */
    private void open() {
        if (closed) {
            throw new IllegalStateException("clone " + number + " of golden image " + golden + " was closed when its test (or class) ended;"
                    + " a clone may not be kept beyond it");
        }
    }

    /** How the guest stopped, or null if it still runs after {@code timeout}. */
    public VmExit awaitExit(Duration timeout) throws InterruptedException {
        open();
        return machine.vm().awaitExit(timeout.toMillis());
    }

    /** The machine itself, for what this class does not offer. */
    public Machine machine() {
        open();
        return machine;
    }

    /** Pauses the clone and writes it to {@code file} (the extension does, when a test fails). */
    public void snapshot(Path file) throws IOException {
        open();
        machine.vm().pauseAll();
        Checkpoint.save(machine, file, WriterOptions.defaults());
    }

    /** The last {@code n} console lines, and the line not yet complete. */
    String tail(int n) {
        List<String> all = console.lines();
        StringBuilder b = new StringBuilder();
        for (String l : all.subList(Math.max(0, all.size() - n), all.size())) {
            b.append("  ").append(l).append('\n');
        }
        String partial = console.partial();
        if (!partial.isEmpty()) {
            b.append("  ").append(partial).append(" (no newline yet)\n");
        }
        return b.toString();
    }

    @Override
    public void close() {
        if (!closing.compareAndSet(false, true)) {
            return;
        }
        closed = true;
        synchronized (this) {
            try {
                if (input != null) {
                    input.close();
                }
            } catch (IOException ignored) {
                // the reader thread ends on its own
            }
        }
        // A close on an interrupted thread (a test that kept the flag) would not wait for the vCPUs to leave, and would
        // leave the VM and its RAM mapped: the flag is set aside meanwhile.
        boolean interrupted = Thread.interrupted();
        try {
            machine.close();
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The console: bytes in, lines out, waiters woken at each newline. */
    private static final class Console extends OutputStream {
        private final List<String> lines = new ArrayList<>();
        private final ByteArrayOutputStream current = new ByteArrayOutputStream();

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                lines.add(current.toString(StandardCharsets.ISO_8859_1));
                current.reset();
                notifyAll();
            } else if (b != '\r') {
                current.write(b);
            }
        }

        synchronized List<String> lines() {
            return List.copyOf(lines);
        }

        synchronized String partial() {
            return current.toString(StandardCharsets.ISO_8859_1);
        }

        synchronized String text() {
            return String.join("\n", lines) + (lines.isEmpty() ? "" : "\n") + partial();
        }

        synchronized Matcher await(Pattern p, Duration timeout) throws InterruptedException {
            long deadline = System.nanoTime() + timeout.toNanos();
            int i = 0;
            while (true) {
                for (; i < lines.size(); i++) {
                    Matcher m = p.matcher(lines.get(i));
                    if (m.matches()) {
                        return m;
                    }
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return null;
                }
                wait(Math.max(1, left / 1_000_000));
            }
        }
    }
}
