package dev.stasis.migrate;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.postcopy.PostcopyDestination;
import dev.stasis.migrate.postcopy.PostcopySource;
import dev.stasis.migrate.precopy.RateLimit;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.Frame;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.uffd.Userfaultfd;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Each side of a post-copy against a misbehaving peer, played by the test over loopback (no KVM: guest memory is
 * plain host memory here): a destination asking for pages outside RAM or for one page a million times, a
 * destination that goes silent, a source that goes silent. Each is refused or bounded with a clear message.
 */
class PostcopyPeersTest {
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void close() throws Exception {
        for (int i = open.size() - 1; i >= 0; i--) {
            open.get(i).close();
        }
    }

    @Test
    void aRequestOutsideGuestRamIsRefusedAndEndsThePostcopy() throws Exception {
        GuestMemory memory = memory();
        List<Channel[]> links = links(2);
        PostcopySource source = source(memory, Duration.ofSeconds(1), new AtomicInteger(), line -> { });
        source.start(List.of(links.get(0)[0], links.get(1)[0]));
        Channel dest = links.get(0)[1];
        dest.send(MessageType.REQUEST, new Encoder().u64(1L << 39));
        MigrationException refused = assertThrows(MigrationException.class, () -> dest.receive(EnumSet.of(MessageType.PAGES, MessageType.PING)));
        assertTrue(refused.getMessage().contains("page request for 0x8000000000, which is not a page of guest RAM"), refused.getMessage());
        MigrationException e = assertThrows(MigrationException.class, () -> source.await(MessageType.READY, 5000));
        assertEquals(Kind.PROTOCOL, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("not a page of guest RAM"), e.getMessage());
        source.close();
    }

    @Test
    void aPageAskedForAMillionTimesIsSentOnce() throws Exception {
        GuestMemory memory = memory();
        memory.write(0x3000, new byte[] {1, 2, 3});
        List<Channel[]> links = links(2);
        PostcopySource source = source(memory, Duration.ofSeconds(1), new AtomicInteger(), line -> { });
        source.start(List.of(links.get(0)[0], links.get(1)[0]));
        Channel dest = links.get(0)[1];
        CompletableFuture<Void> asking = CompletableFuture.runAsync(() -> {
            for (int i = 0; i < 1_000_000; i++) {
                dest.send(MessageType.REQUEST, new Encoder().u64(0x3000));
            }
            dest.send(MessageType.READY, new Encoder());
        });
        source.await(MessageType.READY, 60_000);
        asking.get(10, TimeUnit.SECONDS);
        source.commit();
        dest.send(MessageType.DONE, new Encoder().u64(1));
        int pages = 0;
        for (Frame f; (f = dest.receive(EnumSet.of(MessageType.PAGES, MessageType.COMMIT, MessageType.DONE, MessageType.PING))).type() != MessageType.DONE; ) {
            if (f.type() == MessageType.PAGES) {
                pages++;
            }
        }
        PostcopySource.Stats s = source.finish();
        assertEquals(1, pages, "one answer on the control connection");
        assertEquals(1, s.requests(), s.toString());
        assertEquals(999_999, s.repeats(), s.toString());
    }

    @Test
    void aDestinationThatFallsSilentIsGivenUpAfterTheRecoveryWindowNamingWhy() throws Exception {
        GuestMemory memory = memory();
        List<Channel[]> links = links(2);
        AtomicInteger attempts = new AtomicInteger();
        List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        PostcopySource source = source(memory, Duration.ofSeconds(2), attempts, log::add);
        source.start(List.of(links.get(0)[0], links.get(1)[0]));
        Channel dest = links.get(0)[1];
        dest.send(MessageType.READY, new Encoder());
        source.await(MessageType.READY, 5000);
        source.commit();
        // From here the destination neither pings nor reads: the source sees no answer within 10 s, then retries.
        long t = System.nanoTime();
        MigrationException e = assertThrows(MigrationException.class, source::finish);
        long took = TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t);
        assertEquals(Kind.LINK, e.kind());
        assertTrue(e.getMessage().contains("could not reconnect to the destination within 2 s"), e.getMessage());
        assertTrue(attempts.get() >= 2, "reconnection was tried: " + attempts);
        assertTrue(took >= 10 && took < 30, took + " s");
        assertTrue(log.stream().anyMatch(l -> l.contains("the guest waits at the destination")), log.toString());
    }

    @Test
    void aSourceThatFallsSilentStopsTheGuestAfterTheRecoveryWindowNeverAZeroPageInItsPlace() throws Exception {
        assumeTrue(Userfaultfd.unavailabilityCause() == null, "userfaultfd: " + Userfaultfd.unavailabilityCause());
        GuestMemory memory = memory();
        List<Channel[]> links = links(2);
        List<String> log = new java.util.concurrent.CopyOnWriteArrayList<>();
        java.util.concurrent.CountDownLatch linkDone = new java.util.concurrent.CountDownLatch(1);
        PostcopyDestination dest = new PostcopyDestination(memory, Duration.ofSeconds(2), deadline -> {
            throw new MigrationException(Kind.LINK, "the source did not connect (test)");
        }, log::add, linkDone::countDown);
        AtomicReference<Throwable> stopped = new AtomicReference<>();
        AtomicReference<CompletableFuture<Byte>> toucher = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean touchDoneAtStop = new java.util.concurrent.atomic.AtomicBoolean(true);
        RemoteRam ram = RemoteRam.start(memory, new long[][] {new long[(int) (memory.size() / 4096 / 64)]}, dest::request, cause -> {
            touchDoneAtStop.set(toucher.get().isDone()); // the guest is being stopped: its access must still wait
            stopped.set(cause);
        });
        open.add(dest);
        dest.begin(ram, List.of(links.get(0)[1], links.get(1)[1]));
        dest.runInBackground();
        Channel source = links.get(0)[0];
        Frame first = source.receive(EnumSet.of(MessageType.REQUEST, MessageType.PING));
        assertNotNull(first);
        // A host thread touches a page: it waits for it. The source answers nothing from here on.
        CompletableFuture<Byte> touch = CompletableFuture.supplyAsync(() -> memory.getByte(0x5000));
        toucher.set(touch);
        Thread.sleep(500);
        assertFalse(touch.isDone(), "the page is not there: the toucher waits");
        assertNull(stopped.get());
        long t = System.nanoTime();
        while (stopped.get() == null && System.nanoTime() - t < TimeUnit.SECONDS.toNanos(30)) {
            Thread.sleep(100);
        }
        assertNotNull(stopped.get(), "after 10 s of silence and a 2 s window the guest is stopped: " + log);
        assertTrue(stopped.get().getMessage().contains("the source did not reconnect within 2 s"), stopped.get().getMessage());
        IllegalStateException lost = assertThrows(IllegalStateException.class, memory::awaitResident);
        assertTrue(lost.getMessage().contains("post-copy"), lost.getMessage());
        assertTrue(log.stream().anyMatch(l -> l.contains("the guest is lost")), log.toString());
        assertFalse(touchDoneAtStop.get(), "no access went through before the guest was stopped");
        touch.get(10, TimeUnit.SECONDS); // let through only once the guest was stopped
        assertTrue(linkDone.await(10, TimeUnit.SECONDS), "the link is over once the guest is lost: the listening socket may go");
    }

    /** A source of all of {@code memory} whose every reconnection fails as a refused connection would, counted in {@code attempts}. */
    private static PostcopySource source(GuestMemory memory, Duration window, AtomicInteger attempts, java.util.function.Consumer<String> log) {
        return new PostcopySource(memory, all(memory), new RateLimit(0), window, () -> {
            attempts.incrementAndGet();
            throw new MigrationException(Kind.LINK, "connection refused (test)");
        }, log);
    }

    private GuestMemory memory() {
        GuestMemory m = new GuestMemory(MemoryLayout.ofSize(4 << 20));
        open.add(m);
        return m;
    }

    private static long[][] all(GuestMemory memory) {
        long[] words = new long[(int) (memory.size() / 4096 / 64)];
        java.util.Arrays.fill(words, -1L);
        return new long[][] {words};
    }

    /** {@code n} loopback connections as channel pairs: [0] the source's end, [1] the destination's. */
    private List<Channel[]> links(int n) throws IOException {
        List<Channel[]> out = new ArrayList<>();
        try (ServerSocket ss = new ServerSocket(0, n, InetAddress.getLoopbackAddress())) {
            for (int i = 0; i < n; i++) {
                Socket a = new Socket(ss.getInetAddress(), ss.getLocalPort());
                Socket b = ss.accept();
                Channel[] pair = {new Channel(a, FaultHook.NONE, new AtomicInteger()), new Channel(b, FaultHook.NONE, new AtomicInteger())};
                open.add(pair[0]);
                open.add(pair[1]);
                out.add(pair);
            }
        }
        return out;
    }
}
