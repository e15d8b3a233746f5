package dev.stasis.os;

import static org.junit.jupiter.api.Assertions.*;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Kept threads: named while a body runs, found again by the next body, joined as threads are, made ahead when asked. */
class KeptThreadsTest {
    private static final KeptThreads THREADS = new KeptThreads("kept-test", false, 0, Duration.ofMinutes(1));

    @Test
    void aBodyRunsNamedOnAKeptThreadAndTheNextBodyFindsItAgain() throws Exception {
        AtomicReference<Thread> first = new AtomicReference<>();
        AtomicReference<String> name = new AtomicReference<>();
        THREADS.run("kept-test-a", () -> {
            first.set(Thread.currentThread());
            name.set(Thread.currentThread().getName());
        }).join();
        assertEquals("kept-test-a", name.get());
        assertNotEquals("kept-test-a", first.get().getName(), "the name goes with the body");
        // The ended body's thread goes back to wait for the next a moment after join returns: try for a while.
        AtomicReference<Thread> again = new AtomicReference<>();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (again.get() != first.get() && System.nanoTime() < until) {
            Thread.sleep(5);
            THREADS.run("kept-test-b", () -> again.set(Thread.currentThread())).join();
        }
        assertSame(first.get(), again.get(), "the thread was kept, not made again");
    }

    @Test
    void joinReturnsOnlyOnceTheBodyHasEndedAtOnceInsideItAndKeepsAnInterrupt() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean ended = new AtomicBoolean();
        AtomicReference<KeptThreads.Running> self = new AtomicReference<>();
        CompletableFuture<Boolean> joinedItself = new CompletableFuture<>();
        KeptThreads.Running r = THREADS.run("kept-test-c", () -> {
            try {
                assertTrue(release.await(10, TimeUnit.SECONDS));
                self.get().join(); // from the body itself: must not wait for itself
                joinedItself.complete(true);
            } catch (Throwable t) {
                joinedItself.completeExceptionally(t);
            }
            ended.set(true);
        });
        self.set(r);
        CompletableFuture<Boolean[]> waiter = CompletableFuture.supplyAsync(() -> {
            Thread.currentThread().interrupt();
            r.join();
            return new Boolean[] {ended.get(), Thread.interrupted()};
        });
        release.countDown();
        Boolean[] seen = waiter.get(10, TimeUnit.SECONDS);
        assertTrue(seen[0], "join returned before the body ended");
        assertTrue(seen[1], "the interrupt is kept for the caller");
        assertTrue(joinedItself.get(10, TimeUnit.SECONDS));
    }

    @Test
    void threadsAskedForAheadExistBeforeTheFirstBodyAndBackgroundOnesRunNice() throws Exception {
        KeptThreads ahead = new KeptThreads("kept-test-ahead", true, 1, Duration.ofSeconds(30));
        try {
            assertTrue(Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals("kept-test-ahead-1")),
                    "the thread asked for ahead was started by the constructor");
            AtomicReference<String> name = new AtomicReference<>();
            AtomicReference<Integer> nice = new AtomicReference<>();
            ahead.run("kept-test-d", () -> {
                nice.set(Niceness.current());
                name.set(Thread.currentThread().getName());
            }).join();
            assertEquals("kept-test-d", name.get());
            assertTrue(nice.get() >= Niceness.BACKGROUND, "a background thread's nice value: " + nice.get());
        } finally {
            ahead.shutdown();
        }
    }
}
