package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.migrate.auth.Auth;
import dev.stasis.migrate.auth.Handshake;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.snapshot.codec.Encoder;
import java.io.OutputStream;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The destination against strangers of every kind, chosen at random (seed in every message): each costs one
 * log line and at most the handshake deadline, side by side with the others, and the source still gets in.
 * Loopback only; no KVM (the honest source's SETUP is refused, which shows it got past the door).
 */
class HostileListenerTest {
    private static final byte[] KEY = "the-right-key-0123456789".getBytes(java.nio.charset.StandardCharsets.UTF_8);
    private static final Auth PSK = new Auth.Psk(KEY);
    private static final Duration DEADLINE = Duration.ofMillis(1000);

    @Test
    void everyKindOfStrangerCostsOneLineAndBoundedTimeThenTheSourceGetsIn() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        int count = 6 * Strangers.Kind.values().length;
        List<String> log = new CopyOnWriteArrayList<>();
        try (Loopback dest = new Loopback()) {
            var incoming = dest.receive(OutputStream.nullOutputStream(),
                    new MigrationReceiver.Options(PSK, Duration.ZERO, FaultHook.NONE).withHandshakeLimits(8, DEADLINE), log::add);
            ExecutorService pool = Executors.newFixedThreadPool(12);
            List<Future<Strangers.Outcome>> outcomes = new ArrayList<>();
            List<Strangers.Kind> kinds = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                kinds.add(Strangers.Kind.values()[i % Strangers.Kind.values().length]); // each kind six times
            }
            java.util.Collections.shuffle(kinds, random);
            for (Strangers.Kind kind : kinds) {
                Random own = new Random(random.nextLong());
                outcomes.add(pool.submit(() -> Strangers.attack(dest.address, kind, own, KEY, Duration.ofSeconds(10))));
            }
            pool.shutdown();
            for (Future<Strangers.Outcome> f : outcomes) {
                Strangers.Outcome o = f.get(60, TimeUnit.SECONDS);
                assertFalse(o.hung(), "seed " + seed + ": " + o);
                // The deadline, plus the time a handshake thread may wait for its turn on 2 busy cores.
                assertTrue(o.held().toMillis() < DEADLINE.toMillis() + 1500, "seed " + seed + ": " + o);
            }
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (refused(log) < count && System.nanoTime() < until) {
                Thread.sleep(20);
            }
            assertEquals(count, refused(log), "seed " + seed + ": one line per stranger:\n" + String.join("\n", log));
            assertTrue(log.stream().allMatch(l -> !l.contains("\n") && l.endsWith("still waiting for the source")), String.join("\n", log));
            assertFalse(incoming.isDone(), "still listening");
            assertTrue(log.stream().anyMatch(l -> l.contains("bad AUTH") && l.contains("needs 32 bytes")), "a short AUTH is a refused stranger");
            honestSourceGetsIn(dest, incoming);
        }
    }

    @Test
    void silentConnectionsBeyondTheCapCannotKeepTheSourceOut() throws Exception {
        List<String> log = new CopyOnWriteArrayList<>();
        List<Socket> silent = new ArrayList<>();
        try (Loopback dest = new Loopback()) {
            var incoming = dest.receive(OutputStream.nullOutputStream(),
                    new MigrationReceiver.Options(PSK, Duration.ZERO, FaultHook.NONE).withHandshakeLimits(8, Duration.ofSeconds(30)), log::add);
            try {
                for (int i = 0; i < 50; i++) {
                    silent.add(new Socket(dest.address.getAddress(), dest.address.getPort()));
                }
                long t = System.nanoTime();
                honestSourceGetsIn(dest, incoming);
                long took = System.nanoTime() - t;
                assertTrue(took < TimeUnit.SECONDS.toNanos(5), "the source waited " + took / 1_000_000 + " ms behind 50 silent peers");
                long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                while (log.stream().filter(l -> l.contains("dropped unfinished to make room")).count() < 50 - 8 && System.nanoTime() < until) {
                    Thread.sleep(20);
                }
                assertTrue(log.stream().filter(l -> l.contains("dropped unfinished to make room")).count() >= 50 - 8,
                        "the oldest were dropped for newcomers:\n" + String.join("\n", log));
            } finally {
                for (Socket s : silent) {
                    s.close();
                }
            }
        }
    }

    @Test
    void theTimeoutBoundsTheWholeWaitWhateverStrangersDo() throws Exception {
        try (Loopback dest = new Loopback()) {
            long t = System.nanoTime();
            var incoming = dest.receive(OutputStream.nullOutputStream(), new MigrationReceiver.Options(PSK, Duration.ofMillis(1500), FaultHook.NONE));
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<Strangers.Outcome>> drips = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                Random own = new Random(i);
                drips.add(pool.submit(() -> Strangers.attack(dest.address, Strangers.Kind.DRIP, own, KEY, Duration.ofSeconds(20))));
            }
            var e = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
            long took = System.nanoTime() - t;
            assertTrue(e.getCause().getMessage().contains("the source did not connect and authenticate in time"), e.getCause().getMessage());
            assertTrue(took < TimeUnit.MILLISECONDS.toNanos(1500 + 1500), "the receiver gave up after " + took / 1_000_000 + " ms");
            for (Future<Strangers.Outcome> f : drips) {
                Strangers.Outcome o = f.get(20, TimeUnit.SECONDS);
                assertFalse(o.hung(), "a dripping stranger is cut off, not left hanging, when the receiver gives up: " + o);
                assertTrue(o.held().toMillis() < 1500 + 1500, "held no longer than the wait: " + o);
            }
            pool.shutdownNow();
        }
    }

    /**
     * An honest source completes the handshake; its SETUP (not a VM section) is refused, which shows the
     * destination took it as its source: the receiver ends with that error, not a stranger's.
     */
    private static void honestSourceGetsIn(Loopback dest, CompletableFuture<?> incoming) throws Exception {
        try (Channel ch = new Channel(new Socket(dest.address.getAddress(), dest.address.getPort()), FaultHook.NONE, new AtomicInteger())) {
            Handshake.client(ch, PSK, 0, 0);
            ch.send(MessageType.SETUP, new Encoder().varUnsigned(1).u64(1 << 20));
        }
        var e = assertThrows(ExecutionException.class, () -> incoming.get(10, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().startsWith("bad SETUP from"), e.getCause().getMessage());
    }

    private static long refused(List<String> log) {
        return log.stream().filter(l -> l.startsWith("refused ")).count();
    }
}
