package dev.stasis.migrate.postcopy;

import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.RemoteRam;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.precopy.PageReader;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.precopy.RateLimit;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A whole post-copy between two small memories of this process over loopback, source and destination as a
 * migration runs them: a pre-copy span through the destination's userfaultfd engine, the stale set encoded and
 * decoded, READY, COMMIT, STARTED, a page the destination faults on and asks for, the push, DONE. Run cold inside
 * the guest's pause, the first post-copy of a process loaded and linked some 20 classes and lambdas at each end
 * (its threads, its epochs, their first frames) there. Only ever a speed-up: where userfaultfd or loopback is
 * missing, or anything fails, it stops; {@link #run} says whether it went through.
 */
public final class PostcopyRehearsal {
    private static final int PAGES = 64;
    private static final long TIMEOUT_MILLIS = 5000;

    private PostcopyRehearsal() {}

    /**
     * Whether the rehearsal went through: every page of the source's memory came by the post-copy (pushed or asked
     * for: the pre-copy's copies were all dropped as stale) and arrived byte for byte.
     */
    public static boolean run() {
        List<Channel> out = new ArrayList<>(), in = new ArrayList<>();
        try (GuestMemory from = new GuestMemory(MemoryLayout.ofSize((long) PAGES * Protocol.PAGE_SIZE));
             GuestMemory to = new GuestMemory(MemoryLayout.ofSize((long) PAGES * Protocol.PAGE_SIZE));
             ServerSocket server = new ServerSocket(0, 2, InetAddress.getLoopbackAddress())) {
            for (int i = 0; i < 2; i++) { // control, then one data connection
                out.add(new Channel(new Socket(server.getInetAddress(), server.getLocalPort()), FaultHook.NONE, new AtomicInteger()));
                in.add(new Channel(server.accept(), FaultHook.NONE, new AtomicInteger()));
            }
            return rehearse(from, to, out, in);
        } catch (IOException | InterruptedException | RuntimeException e) { // UffdUnavailableException among them
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return false;
        } finally {
            out.forEach(Channel::close);
            in.forEach(Channel::close);
        }
    }

    private static boolean rehearse(GuestMemory from, GuestMemory to, List<Channel> out, List<Channel> in) throws InterruptedException {
        long base = from.layout().ranges().get(0).gpa();
        byte[] data = new byte[Protocol.PAGE_SIZE];
        java.util.Arrays.fill(data, (byte) 0x5a);
        for (int p = 0; p < PAGES; p += 2) {
            from.write(base + (long) p * Protocol.PAGE_SIZE, data); // every other page has data, the rest stay zero
        }
        long[][] all = {{-1L}}; // one range of PAGES = 64 pages: one word, every page

        PostcopyDestination dest = new PostcopyDestination(to, Duration.ofMillis(100), deadline -> {
            throw new MigrationException(Kind.LINK, "no recovery in a rehearsal");
        }, line -> { }, () -> { });
        dest.prepareThreads(1);
        long[][] none = {new long[all[0].length]};
        RemoteRam ram = RemoteRam.start(to, none, dest::request, cause -> { }, true);
        try {
            // A pre-copy span through the engine, then the switch: the stale set goes as POSTCOPY carries it.
            new PageWriter().send(out.get(0), from, base, PAGES, all[0].clone(), 0);
            new PageReader(to, new PageReader.Written(to), ram).apply(in.get(0).expect(MessageType.PAGES));
            Encoder set = new Encoder();
            PageSet.encode(set, all);
            byte[] bytes = set.toBytes();
            long[][] stale = PageSet.decode(new Decoder(bytes, 0, bytes.length, 0, "rehearsal"), to.layout());

            PostcopySource source = new PostcopySource(from, all, new RateLimit(0), Duration.ofMillis(100), () -> {
                throw new MigrationException(Kind.LINK, "no recovery in a rehearsal");
            }, line -> { });
            // Whatever hangs (a page never answered, a DONE never sent) is cut off: the links break, each side ends.
            Thread watchdog = PostcopyDestination.daemon(() -> {
                try {
                    Thread.sleep(TIMEOUT_MILLIS);
                    source.close();
                    dest.close();
                } catch (InterruptedException e) {
                    // went through in time
                }
            }, "postcopy-rehearsal-watchdog");
            watchdog.start();
            try {
                source.start(List.copyOf(out));
                CompletableFuture<Void> destination = CompletableFuture.runAsync(() -> {
                    ram.drop(stale);
                    dest.begin(ram, List.copyOf(in));
                    ram.release();
                    dest.send(MessageType.READY);
                    dest.await(MessageType.COMMIT, TIMEOUT_MILLIS);
                    dest.send(MessageType.STARTED);
                    dest.runInBackground();
                    to.getByte(base + Protocol.PAGE_SIZE); // a missing page: faulted on, asked for, served on the control connection
                }, r -> PostcopyDestination.daemon(r, "postcopy-rehearsal").start());
                source.await(MessageType.READY, TIMEOUT_MILLIS);
                source.commit();
                PostcopySource.Stats st = source.finish();
                destination.get(TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
                // Every page by the post-copy itself (pushed or asked for), not left over from the pre-copy span: all were
                // dropped. A request can cross the push of its page, and both are sent: at least every page, not exactly.
                if (st.pushed() + st.requests() < PAGES || ram.missingCount() != 0 || ram.failure() != null) {
                    return false;
                }
                int length = PAGES * Protocol.PAGE_SIZE;
                return java.util.Arrays.equals(from.read(base, length), to.read(base, length));
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                return false; // a rehearsal that did not finish only warmed less
            } finally {
                watchdog.interrupt();
                source.close();
            }
        } finally {
            dest.close();
            ram.close();
        }
    }
}
