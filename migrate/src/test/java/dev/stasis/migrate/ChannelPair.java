package dev.stasis.migrate;

import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.FaultHook;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/** Two ends of one loopback connection as channels, for handshake tests that need no KVM. */
final class ChannelPair {
    private ChannelPair() {}

    /** Runs {@code server} on an accepted channel and {@code client} on a connected one; returns both outcomes. */
    static <T> Outcome<T> run(Function<Channel, T> server, Function<Channel, Object> client) throws Exception {
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            CompletableFuture<T> s = CompletableFuture.supplyAsync(() -> {
                try (Channel ch = new Channel(ss.accept(), FaultHook.NONE, new AtomicInteger())) {
                    return server.apply(ch);
                } catch (java.io.IOException e) {
                    throw new RuntimeException(e);
                }
            });
            Throwable clientError = null;
            try (Channel ch = new Channel(new Socket(ss.getInetAddress(), ss.getLocalPort()), FaultHook.NONE, new AtomicInteger())) {
                client.apply(ch);
            } catch (Throwable t) {
                clientError = t;
            }
            Throwable serverError = null;
            T value = null;
            try {
                value = s.get(10, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                serverError = e.getCause();
            }
            return new Outcome<>(value, serverError, clientError);
        }
    }

    record Outcome<T>(T value, Throwable server, Throwable client) {}
}
