package dev.stasis.migrate;

import dev.stasis.fixtures.RunningGuest;
import dev.stasis.machine.Machine;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A destination in this JVM on a loopback port: {@link #receive} runs the receiver on a thread. */
final class Loopback implements AutoCloseable {
    final ServerSocket server;
    final InetSocketAddress address;

    Loopback() throws IOException {
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        address = new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
    }

    CompletableFuture<Machine> receive(OutputStream console, MigrationReceiver.Options options) {
        return receive(console, options, line -> { });
    }

    CompletableFuture<Machine> receive(OutputStream console, MigrationReceiver.Options options, java.util.function.Consumer<String> log) {
        CompletableFuture<Machine> f = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try {
                f.complete(MigrationReceiver.receive(server, console, options, log));
            } catch (Throwable e) {
                f.completeExceptionally(e);
            }
        }, "test-receiver");
        t.setDaemon(true);
        t.start();
        return f;
    }

    @Override
    public void close() throws IOException {
        server.close();
    }

    /** KVM VM descriptors open in this process: each live Machine holds one. */
    static long openVms() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(p -> {
                try {
                    return Files.readSymbolicLink(p).toString().equals("anon_inode:kvm-vm");
                } catch (IOException e) {
                    return false;
                }
            }).count();
        }
    }

    /**
     * Waits up to 30 s for dirtier at a destination (its console so far in {@code console}) to report round
     * {@code target} or later; asserts it did, with no FAIL. Returns the console text.
     */
    static String awaitDirtierRound(java.io.ByteArrayOutputStream console, int target, String what) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(30);
        String out;
        do {
            Thread.sleep(200);
            out = console.toString(java.nio.charset.StandardCharsets.ISO_8859_1);
        } while (InProcessMigrationTest.maxRound(out) < target && System.nanoTime() < deadline);
        org.junit.jupiter.api.Assertions.assertTrue(InProcessMigrationTest.maxRound(out) >= target, what + ": dirtier reaches round " + target + " at the destination:\n" + out);
        org.junit.jupiter.api.Assertions.assertFalse(out.contains("FAIL"), out);
        return out;
    }

    static int lastRound(RunningGuest g, Pattern p) {
        int last = 0;
        for (var l : g.lines()) {
            Matcher m = p.matcher(l.text());
            if (m.matches()) {
                last = Math.max(last, Integer.parseInt(m.group(1)));
            }
        }
        return last;
    }
}
