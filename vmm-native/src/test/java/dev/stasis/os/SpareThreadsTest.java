package dev.stasis.os;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Spares made ahead, in the background or not: each runs one body, a start with none left makes its own, none outlive close. */
class SpareThreadsTest {
    private static Set<Thread> named(String name) {
        Set<Thread> out = ConcurrentHashMap.newKeySet();
        Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().equals(name)).forEach(out::add);
        return out;
    }

    private static void awaitSpares(int n) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (named("spare").size() < n) {
            assertTrue(System.nanoTime() < end, "the background made " + named("spare").size() + " of " + n + " spares in 10 s");
            Thread.sleep(1);
        }
    }

    @Test
    void spareMadeInTheBackgroundRunsTheBodyAndEnds() throws Exception {
        Set<Thread> before = named("spare");
        SpareThreads spares = new SpareThreads();
        spares.prepareInBackground(2);
        spares.prepareInBackground(2); // asked twice: still two
        spares.prepare(2); // counted with those: none more
        awaitSpares(before.size() + 2);
        Set<Thread> made = named("spare");
        made.removeAll(before);
        assertEquals(2, made.size());

        Set<String> ranOn = ConcurrentHashMap.newKeySet();
        Thread a = spares.start(() -> ranOn.add(Thread.currentThread().getName()), "body-a");
        Thread b = spares.start(() -> ranOn.add(Thread.currentThread().getName()), "body-b");
        Thread c = spares.start(() -> ranOn.add(Thread.currentThread().getName()), "body-c"); // none left: a new one
        for (Thread t : new Thread[] {a, b, c}) {
            t.join(10_000);
            assertFalse(t.isAlive(), t.getName() + " ended with its body");
        }
        assertEquals(Set.of("body-a", "body-b", "body-c"), ranOn);
        assertTrue(made.contains(a) && made.contains(b), "the first two ran on the spares");
        assertFalse(made.contains(c));
        spares.close();
    }

    @Test
    void sparesNotTakenEndAtCloseAndNoneAreMadeAfterIt() throws Exception {
        Set<Thread> before = named("spare");
        SpareThreads spares = new SpareThreads();
        spares.prepare(3);
        Set<Thread> made = named("spare");
        made.removeAll(before);
        assertEquals(3, made.size());
        spares.close();
        for (Thread t : made) {
            t.join(10_000);
            assertFalse(t.isAlive(), "a spare not taken ended at close");
        }
        spares.prepareInBackground(2);
        spares.prepare(2);
        // The maker runs its requests in order: once an open owner's spare asked for after them exists, they have run.
        SpareThreads open = new SpareThreads();
        open.prepareInBackground(1);
        awaitSpares(before.size() + 1);
        Set<Thread> after = named("spare");
        after.removeAll(before);
        after.removeIf(t -> !t.isAlive());
        assertEquals(1, after.size(), "a closed owner has no spares made; the open one has its one: " + after);
        open.close();
    }
}
