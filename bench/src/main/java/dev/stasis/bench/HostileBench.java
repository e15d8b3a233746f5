package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.stasis.control.ControlClient;
import dev.stasis.control.ControlServer;
import dev.stasis.control.HostileRequests;
import dev.stasis.control.RawClient;
import dev.stasis.control.VmControl;
import dev.stasis.fixtures.Guests;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationReceiver;
import dev.stasis.migrate.Strangers;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.vm.VmConfig;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * A long randomized run of the hostile tests (HostileListenerTest, HostileControlTest, ControlSocketLimitsTest)
 * with the production limits, never run as a test. Two parts, each for half of {@code --seconds}:
 * <ul>
 *   <li><b>listener</b>: {@code --threads} strangers at a time (every {@link Strangers.Kind}, at random) against a
 *       migration destination on loopback; in rounds of twice the handshake deadline, an honest source connects late
 *       in the storm and must get through (its SETUP is refused, which ends the round; a fresh destination takes the
 *       next). Strangers that meet a destination which already has its source are not counted.</li>
 *   <li><b>control</b>: {@code --threads} hostile clients (schema violations, random bytes, lines up to 2 GiB, idle
 *       and dripping clients) against a running VM's control socket, while an honest {@code status} is asked every
 *       500 ms and must be answered.</li>
 * </ul>
 * Counts: tried, refused cleanly, stack traces (an answer or log line naming an exception, or an uncaught
 * exception in any thread), hangs (nothing within the limit + 5 s), and growth of heap, threads and descriptors.
 *
 * <p>{@code java -cp bench/target/stasis-bench.jar dev.stasis.bench.HostileBench [--seconds 240] [--threads 12] [--seed N]}
 */
public final class HostileBench {
    private static final byte[] KEY = "stasis-bench-pre-shared-key".getBytes(StandardCharsets.UTF_8);
    private static final LongAdder UNCAUGHT = new LongAdder();

    /** What one part saw. */
    private static final class Tally {
        final Map<String, LongAdder> tried = new ConcurrentHashMap<>();
        final LongAdder refused = new LongAdder();
        /** Log lines of the destinations (one per stranger that reached a handshake). */
        final LongAdder lines = new LongAdder();
        final LongAdder traces = new LongAdder();
        final LongAdder hangs = new LongAdder();
        final LongAdder honest = new LongAdder();
        final LongAdder honestFailed = new LongAdder();
        final AtomicLong honestWorstMillis = new AtomicLong();
        final AtomicLong heldWorstMillis = new AtomicLong();
        final List<String> examples = java.util.Collections.synchronizedList(new ArrayList<>());

        void tried(String kind) {
            tried.computeIfAbsent(kind, k -> new LongAdder()).increment();
        }

        long total() {
            return tried.values().stream().mapToLong(LongAdder::sum).sum();
        }

        void problem(String what) {
            if (examples.size() < 10) {
                examples.add(what);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        int seconds = 240;
        int threads = 12;
        long seed = System.nanoTime();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--seconds" -> seconds = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Thread.setDefaultUncaughtExceptionHandler((t, e) -> {
            UNCAUGHT.increment();
            System.err.println("uncaught in " + t.getName() + ": " + e);
        });
        System.out.printf("seed %d, %d s, %d hostile threads at a time%n%n", seed, seconds, threads);
        Footprint before = Footprint.now();
        Tally listener = listener(Duration.ofSeconds(seconds / 2), threads, new Random(seed));
        Footprint mid = Footprint.now();
        Tally control = control(Duration.ofSeconds(seconds - seconds / 2), threads, new Random(seed + 1));
        Footprint after = Footprint.now();
        System.out.println("| part | tried | refused cleanly | stack traces | hangs | honest answered / failed (worst ms) | longest held ms | heap MiB | threads | fds |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        row("listener", listener, before, mid);
        row("control", control, mid, after);
        System.out.println();
        System.out.println("uncaught exceptions in any thread: " + UNCAUGHT.sum());
        System.out.println("listener log lines: " + listener.lines.sum() + " for " + listener.total() + " strangers");
        for (var t : List.of(listener, control)) {
            System.out.println((t == listener ? "listener" : "control") + " by kind: " + new java.util.TreeMap<>(t.tried).toString());
            t.examples.forEach(e -> System.out.println("  problem: " + e));
        }
    }

    private static void row(String part, Tally t, Footprint from, Footprint to) {
        System.out.printf("| %s | %d | %d | %d | %d | %d / %d (%d) | %d | %+.1f | %+d | %+d |%n", part, t.total(), t.refused.sum(), t.traces.sum(),
                t.hangs.sum(), t.honest.sum(), t.honestFailed.sum(), t.honestWorstMillis.get(), t.heldWorstMillis.get(),
                (to.heap - from.heap) / 1048576.0, to.threads - from.threads, to.fds - from.fds);
    }

    /** Heap in use after a collection, live threads, open descriptors: what a leak would grow. */
    private record Footprint(long heap, int threads, long fds) {
        static Footprint now() throws Exception {
            Thread.sleep(500); // let closed connections' threads end
            for (int i = 0; i < 3; i++) {
                System.gc();
            }
            Runtime r = Runtime.getRuntime();
            try (var f = Files.list(Path.of("/proc/self/fd"))) {
                return new Footprint(r.totalMemory() - r.freeMemory(), Thread.activeCount(), f.count());
            }
        }
    }

    // ---- the migration listener ----

    private static Tally listener(Duration length, int threads, Random random) throws Exception {
        Tally t = new Tally();
        Auth psk = new Auth.Psk(KEY);
        MigrationReceiver.Options options = new MigrationReceiver.Options(psk, Duration.ZERO, FaultHook.NONE);
        Duration patience = options.handshakes().deadline().plusSeconds(5);
        long end = System.nanoTime() + length.toNanos();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        int port = 0;
        while (System.nanoTime() < end) {
            try (ServerSocket server = new ServerSocket()) {
                server.setReuseAddress(true);
                server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 128);
                port = server.getLocalPort();
                InetSocketAddress at = new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
                LongAdder lines = new LongAdder();
                CompletableFuture<Machine> incoming = CompletableFuture.supplyAsync(() -> MigrationReceiver.receive(server,
                        OutputStream.nullOutputStream(), options, line -> {
                            lines.increment();
                            if (line.contains("Exception") || line.contains("\tat ")) {
                                t.traces.increment();
                                t.problem("log: " + line);
                            }
                        }));
                // Long enough for the slowest stranger (the handshake deadline) to be counted before the source comes.
                long roundEnd = Math.min(end, System.nanoTime() + options.handshakes().deadline().multipliedBy(2).plusSeconds(4).toNanos());
                java.util.concurrent.atomic.AtomicBoolean over = new java.util.concurrent.atomic.AtomicBoolean();
                List<Future<?>> storm = new ArrayList<>();
                for (int i = 0; i < threads; i++) {
                    Random own = new Random(random.nextLong());
                    storm.add(pool.submit(() -> {
                        while (!over.get() && System.nanoTime() < roundEnd) {
                            Strangers.Kind kind = Strangers.Kind.values()[own.nextInt(Strangers.Kind.values().length)];
                            try {
                                Strangers.Outcome o = Strangers.attack(at, kind, own, KEY, patience);
                                if (over.get()) {
                                    break; // met the round's end (its source came, the listening socket closed): not counted
                                }
                                t.tried(kind.name());
                                t.heldWorstMillis.accumulateAndGet(o.held().toMillis(), Math::max);
                                if (o.hung()) {
                                    t.hangs.increment();
                                    t.problem("hung: " + o);
                                } else {
                                    t.refused.increment();
                                }
                            } catch (IOException e) {
                                // The round's destination is gone (its source came): not a stranger's outcome.
                                Thread.sleep(20);
                            }
                        }
                        return null;
                    }));
                }
                Thread.sleep(Math.max(0, TimeUnit.NANOSECONDS.toMillis(roundEnd - System.nanoTime()) * 5 / 6));
                honestSource(at, psk, incoming, t, over);
                server.close(); // strangers still in the backlog are reset, as when `migrate receive` moves on
                for (Future<?> f : storm) {
                    f.get();
                }
                t.lines.add(lines.sum());
            }
        }
        pool.shutdown();
        return t;
    }

    /** In the middle of a storm: a real source's handshake must succeed; its SETUP is refused, which ends the round. */
    private static void honestSource(InetSocketAddress at, Auth psk, CompletableFuture<Machine> incoming, Tally t, java.util.concurrent.atomic.AtomicBoolean over) {
        long start = System.nanoTime();
        try (Channel ch = new Channel(new Socket(at.getAddress(), at.getPort()), FaultHook.NONE, new java.util.concurrent.atomic.AtomicInteger())) {
            Handshake.client(ch, psk, 0, 0);
            over.set(true); // strangers from here on meet a destination that has its source: not counted
            ch.send(MessageType.SETUP, new Encoder().varUnsigned(1).u64(1 << 20));
            incoming.handle((m, e) -> null).get(30, TimeUnit.SECONDS);
            String why = incoming.isCompletedExceptionally() ? incoming.handle((m, e) -> e.getCause().getMessage()).get() : "accepted";
            if (why.startsWith("bad SETUP from")) {
                t.honest.increment();
            } else {
                t.honestFailed.increment();
                t.problem("honest source: " + why);
            }
        } catch (Exception e) {
            t.honestFailed.increment();
            t.problem("honest source: " + e);
        } finally {
            over.set(true);
        }
        t.honestWorstMillis.accumulateAndGet(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start), Math::max);
    }

    // ---- the control socket ----

    private static Tally control(Duration length, int threads, Random random) throws Exception {
        Tally t = new Tally();
        Path dir = Files.createTempDirectory("stasis-hostile");
        Path socket = dir.resolve("vm.sock");
        ControlServer.Limits limits = ControlServer.Limits.DEFAULT;
        long patienceMillis = limits.idleTimeout().toMillis() + 5_000;
        try (Machine machine = Machine.create(VmConfig.of(64 << 20, 1), OutputStream.nullOutputStream())) {
            machine.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
            machine.start();
            try (ControlServer server = ControlServer.bind(socket, limits, line -> {
                if (line.contains("Exception") || line.contains("\tat ")) {
                    t.traces.increment();
                    t.problem("log: " + line);
                }
            })) {
                server.serve(VmControl.handlers(machine));
                long end = System.nanoTime() + length.toNanos();
                ExecutorService pool = Executors.newCachedThreadPool();
                List<Future<?>> clients = new ArrayList<>();
                for (int i = 0; i < threads; i++) {
                    Random own = new Random(random.nextLong());
                    clients.add(pool.submit(() -> {
                        while (System.nanoTime() < end) {
                            hostileClient(socket, dir, own, t, patienceMillis, pool);
                        }
                        return null;
                    }));
                }
                while (System.nanoTime() < end) {
                    long s = System.nanoTime();
                    try {
                        JsonNode status = CompletableFuture.supplyAsync(() -> {
                            try {
                                return ControlClient.call(socket, ControlClient.request("status"));
                            } catch (IOException e) {
                                throw new java.io.UncheckedIOException(e);
                            }
                        }, pool).get(5, TimeUnit.SECONDS);
                        if (status.path("state").asText().equals("running")) {
                            t.honest.increment();
                        } else {
                            t.honestFailed.increment();
                            t.problem("status: " + status);
                        }
                    } catch (Exception e) {
                        t.honestFailed.increment(); // full house, or no answer in 5 s
                        t.problem("status: " + e.getMessage());
                    }
                    t.honestWorstMillis.accumulateAndGet(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - s), Math::max);
                    Thread.sleep(500);
                }
                for (Future<?> f : clients) {
                    f.get();
                }
                pool.shutdownNow();
                if (machine.vm().isStopped()) {
                    t.problem("the VM stopped");
                }
                try (var files = Files.list(dir)) {
                    List<Path> left = files.filter(p -> !p.equals(socket)).toList();
                    if (!left.isEmpty()) {
                        t.problem("files written: " + left);
                    }
                }
            }
        }
        return t;
    }

    /** One hostile client, of a random kind; counts what happened. */
    private static void hostileClient(Path socket, Path dir, Random r, Tally t, long patienceMillis, ExecutorService pool) {
        int kind = r.nextInt(10);
        String name = switch (kind) {
            case 0 -> "overlong line";
            case 1 -> "idle";
            case 2 -> "drip";
            default -> "bad requests";
        };
        Future<String> op;
        RawClient[] client = new RawClient[1];
        try {
            client[0] = new RawClient(socket);
        } catch (IOException e) {
            t.tried("connect refused");
            return;
        }
        RawClient c = client[0];
        op = pool.submit(() -> switch (kind) {
            case 0 -> {
                long size = 65 * 1024L + (long) (r.nextDouble() * r.nextDouble() * ((2L << 30) - 65 * 1024L)); // up to 2 GiB, mostly small
                ByteBuffer chunk = ByteBuffer.allocate(1 << 16);
                java.util.Arrays.fill(chunk.array(), (byte) 'x');
                try {
                    for (long sent = 0; sent < size; sent += chunk.capacity()) {
                        c.write(chunk.clear());
                    }
                } catch (IOException cut) {
                    // Cut off at the limit, as it should be.
                }
                String line = c.readLine();
                yield line != null && line.contains("longer than") ? "refused" : "unexpected: " + line;
            }
            case 1 -> c.readLine() == null ? "refused" : "unexpected answer to silence";
            case 2 -> {
                byte[] req = "{\"command\":\"status\"}".getBytes(StandardCharsets.UTF_8);
                try {
                    for (byte b : req) {
                        c.write(ByteBuffer.wrap(new byte[] {b}));
                        Thread.sleep(2_500);
                    }
                } catch (IOException cut) {
                    yield "refused";
                }
                yield c.readLine() == null ? "refused" : "answered a drip slower than the idle timeout";
            }
            default -> {
                int n = 1 + r.nextInt(50);
                for (int i = 0; i < n; i++) {
                    HostileRequests.Bad bad = HostileRequests.next(r, dir);
                    c.send(bad.line());
                    String line = c.readLine();
                    if (line == null) {
                        yield "closed without an answer to " + bad.why() + ": " + bad.text();
                    }
                    JsonNode a = RawClient.parse(line);
                    if (line.contains("Exception") || line.contains("\\tat ")) {
                        t.traces.increment();
                        yield "trace: " + line;
                    }
                    if (a.path("ok").asBoolean(true) || a.path("error").asText().isBlank()) {
                        yield "accepted " + bad.why() + ": " + bad.text() + " -> " + line;
                    }
                    if (i < n - 1) {
                        t.tried(name);
                        t.refused.increment();
                    }
                }
                yield "refused";
            }
        });
        try {
            String outcome = op.get(patienceMillis, TimeUnit.MILLISECONDS);
            t.tried(name);
            if (outcome.equals("refused")) {
                t.refused.increment();
            } else {
                t.problem(name + ": " + outcome);
            }
        } catch (TimeoutException e) {
            t.tried(name);
            t.hangs.increment();
            t.problem(name + ": no answer or close within " + patienceMillis + " ms");
        } catch (Exception e) {
            t.tried(name);
            t.problem(name + ": " + e);
        } finally {
            try {
                c.close();
            } catch (IOException ignored) {
                // Gone already.
            }
            op.cancel(true);
        }
    }
}
