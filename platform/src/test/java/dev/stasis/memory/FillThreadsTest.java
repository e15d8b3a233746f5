package dev.stasis.memory;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.os.Niceness;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** A lazy restore's threads are the process's, kept between restores: named while they run, joined as threads are. */
class FillThreadsTest {
    @Test
    void aBodyRunsNamedOnAKeptThreadAndTheNextBodyFindsItAgain() throws Exception {
        AtomicReference<Thread> first = new AtomicReference<>();
        AtomicReference<String> name = new AtomicReference<>();
        FillThreads.server("fill-test-a", () -> {
            first.set(Thread.currentThread());
            name.set(Thread.currentThread().getName());
        }).join();
        assertEquals("fill-test-a", name.get());
        assertNotEquals("fill-test-a", first.get().getName(), "the name goes with the body");
        // The ended body's thread goes back to wait for the next a moment after join returns: try for a while.
        AtomicReference<Thread> again = new AtomicReference<>();
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (again.get() != first.get() && System.nanoTime() < until) {
            Thread.sleep(5);
            FillThreads.server("fill-test-b", () -> again.set(Thread.currentThread())).join();
        }
        assertSame(first.get(), again.get(), "the thread was kept, not made again");
    }

    @Test
    void joinWaitsForTheBodyReturnsAtOnceInsideItAndKeepsAnInterrupt() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        AtomicReference<FillThreads.Running> self = new AtomicReference<>();
        CompletableFuture<Boolean> joinedItself = new CompletableFuture<>();
        FillThreads.Running r = FillThreads.server("fill-test-c", () -> {
            try {
                assertTrue(release.await(10, TimeUnit.SECONDS));
                self.get().join(); // from the body itself: must not wait for itself
                joinedItself.complete(true);
            } catch (Throwable t) {
                joinedItself.completeExceptionally(t);
            }
        });
        self.set(r);
        CompletableFuture<Boolean> waiter = CompletableFuture.supplyAsync(() -> {
            Thread.currentThread().interrupt();
            r.join();
            return Thread.interrupted();
        });
        Thread.sleep(50);
        assertFalse(waiter.isDone(), "join returned before the body ended");
        release.countDown();
        assertTrue(waiter.get(10, TimeUnit.SECONDS), "the interrupt is kept for the caller");
        assertTrue(joinedItself.get(10, TimeUnit.SECONDS));
    }

    @Test
    void fetchersRunAtBackgroundPriority() throws Exception {
        AtomicReference<Integer> nice = new AtomicReference<>();
        FillThreads.fetcher("fill-test-d", () -> nice.set(Niceness.current())).join();
        assertTrue(nice.get() >= 10, "a fetcher's nice value: " + nice.get());
    }
}
