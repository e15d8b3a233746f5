package dev.stasis.control;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What one client can take from the others: idle and slow clients, overlong lines, a full house, and a
 * state-changing command whose client gave up while it waited. After each, the next honest client is answered.
 * No VM: the commands are stand-ins that count what ran.
 */
class ControlSocketLimitsTest {
    private static final ControlServer.Limits LIMITS = new ControlServer.Limits(6, 4096, Duration.ofMillis(800));

    @TempDir
    Path dir;
    private Path socket;
    private ControlServer server;
    private final List<String> log = new CopyOnWriteArrayList<>();
    private final AtomicInteger marks = new AtomicInteger();
    private volatile CountDownLatch hold = new CountDownLatch(0);

    @BeforeEach
    void start() throws Exception {
        socket = dir.resolve("c.sock");
        server = ControlServer.bind(socket, LIMITS, log::add);
        server.serve(List.of(
                Command.reading("ping", RequestSchema.of(), r -> ControlServer.json().createObjectNode().put("busy", String.valueOf(r.busyWith()))),
                Command.changing("hold", RequestSchema.of(), r -> {
                    hold.await(20, TimeUnit.SECONDS);
                    return ControlServer.json().createObjectNode();
                }),
                Command.changing("mark", RequestSchema.of(), r -> ControlServer.json().createObjectNode().put("n", marks.incrementAndGet()))));
    }

    @AfterEach
    void stop() {
        hold.countDown();
        server.close();
    }

    private void honestClientIsAnswered() throws Exception {
        long t = System.nanoTime();
        try (RawClient c = new RawClient(socket)) {
            JsonNode a = c.call("{\"command\":\"ping\"}");
            assertNotNull(a, "answered");
            assertTrue(a.path("ok").asBoolean(), a.toString());
        }
        assertTrue(System.nanoTime() - t < TimeUnit.SECONDS.toNanos(2), "answered at once");
    }

    @Test
    void silentClientsHoldNobodyUpAndAreClosedWhenIdle() throws Exception {
        List<RawClient> silent = new ArrayList<>();
        for (int i = 0; i < LIMITS.maxClients() - 1; i++) {
            silent.add(new RawClient(socket));
        }
        honestClientIsAnswered();
        long t = System.nanoTime();
        for (RawClient c : silent) {
            assertNull(c.readLine(), "an idle client is closed");
            c.close();
        }
        long took = System.nanoTime() - t;
        assertTrue(took < LIMITS.idleTimeout().toNanos() + TimeUnit.SECONDS.toNanos(2), took / 1_000_000 + " ms");
        honestClientIsAnswered();
    }

    @Test
    void aFullHouseRefusesTheNextClientInOneLineUntilRoomIsFree() throws Exception {
        List<RawClient> silent = new ArrayList<>();
        for (int i = 0; i < LIMITS.maxClients(); i++) {
            silent.add(new RawClient(socket));
        }
        Thread.sleep(100); // all admitted
        try (RawClient extra = new RawClient(socket)) {
            JsonNode a = extra.answer();
            assertEquals("too many clients (6) are connected; try again later", a.path("error").asText());
            assertNull(extra.readLine(), "and closed");
        }
        for (RawClient c : silent) {
            c.close();
        }
        Thread.sleep(200);
        honestClientIsAnswered();
    }

    @Test
    void overlongRequestsAndSlowDripsAreCutOffAtTheirLimit() throws Exception {
        long seed = System.nanoTime();
        Random r = new Random(seed);
        for (int i = 0; i < 6; i++) {
            try (RawClient c = new RawClient(socket)) {
                byte[] junk = new byte[LIMITS.maxRequestBytes() + 1 + r.nextInt(1 << 20)]; // up to 1 MiB past the limit
                java.util.Arrays.fill(junk, (byte) 'a');
                if (r.nextBoolean()) {
                    junk[r.nextInt(LIMITS.maxRequestBytes() / 2)] = '\n'; // a short line first, then the long one
                }
                CompletableFutureWriter writing = new CompletableFutureWriter(c, junk);
                String line;
                while ((line = c.readLine()) != null && !line.contains("longer than")) {
                    assertTrue(line.contains("\"ok\":false"), "seed " + seed + ": " + line); // the short line's answer
                }
                assertNotNull(line, "seed " + seed + ": told why");
                assertEquals("{\"ok\":false,\"error\":\"a request (with those sent ahead of it) is longer than 4096 bytes; closing\"}", line);
                assertNull(c.readLine(), "and closed");
                writing.join();
            }
        }
        try (RawClient drip = new RawClient(socket)) {
            long t = System.nanoTime();
            byte[] request = "{\"command\":\"ping\"}".getBytes();
            boolean cut = false;
            for (byte b : request) {
                try {
                    drip.write(ByteBuffer.wrap(new byte[] {b}));
                } catch (java.io.IOException e) {
                    cut = true;
                    break;
                }
                Thread.sleep(150);
            }
            assertTrue(cut || drip.readLine() == null, "a request dripped slower than the idle timeout is not waited for");
            assertTrue(System.nanoTime() - t < LIMITS.idleTimeout().toNanos() + TimeUnit.SECONDS.toNanos(3));
        }
        assertTrue(log.stream().filter(l -> l.contains("longer than 4096 bytes")).count() == 6, String.join("\n", log));
        honestClientIsAnswered();
    }

    @Test
    void aChangingCommandWhoseClientLeftWhileItWaitedNeverRuns() throws Exception {
        hold = new CountDownLatch(1);
        try (RawClient holder = new RawClient(socket); RawClient patient = new RawClient(socket)) {
            holder.send("{\"command\":\"hold\"}");
            Thread.sleep(100);
            try (RawClient quitter = new RawClient(socket)) {
                quitter.send("{\"command\":\"mark\"}");
                Thread.sleep(100);
            } // gives up while "hold" runs
            patient.send("{\"command\":\"mark\"}");
            try (RawClient reader = new RawClient(socket)) {
                String busy = reader.call("{\"command\":\"ping\"}").path("result").path("busy").asText();
                assertTrue(busy.matches("hold for client \\d+ \\(\\S+\\)"), "status answers while a command runs, naming it: " + busy);
            }
            Thread.sleep(200);
            hold.countDown();
            assertTrue(holder.answer().path("ok").asBoolean());
            assertEquals(1, patient.answer().path("result").path("n").asInt(), "the patient client's mark ran, first and only");
        }
        assertEquals(1, marks.get(), "the abandoned mark was cancelled, not run later");
        assertTrue(log.stream().anyMatch(l -> l.contains("mark for client") && l.contains("was cancelled before it started")), String.join("\n", log));
    }

    @Test
    void aClientThatDoesNotReadItsAnswersIsClosed() throws Exception {
        try (RawClient greedy = new RawClient(socket)) {
            byte[] many = "{\"command\":\"ping\"}\n".repeat(200).getBytes(); // under the limit, sent ahead
            long t = System.nanoTime();
            boolean closed = false;
            while (!closed && System.nanoTime() - t < TimeUnit.SECONDS.toNanos(20)) {
                try {
                    greedy.write(ByteBuffer.wrap(many)); // never reads
                    Thread.sleep(5);
                } catch (java.io.IOException e) {
                    closed = true;
                }
            }
            assertTrue(closed, "cut off rather than left to block the VM's threads");
        }
        honestClientIsAnswered();
    }

    /** Writes {@code junk} on its own thread (the VM closes mid-way; that write then fails, which is fine). */
    private static final class CompletableFutureWriter {
        private final Thread t;

        CompletableFutureWriter(RawClient c, byte[] junk) {
            t = new Thread(() -> {
                try {
                    c.write(ByteBuffer.wrap(junk));
                } catch (java.io.IOException expected) {
                    // Closed by the VM before all of it was sent.
                }
            });
            t.start();
        }

        void join() throws InterruptedException {
            t.join(10_000);
            assertFalse(t.isAlive());
        }
    }
}
