package dev.stasis.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** A QMP client on a Unix socket: the greeting, qmp_capabilities, then one command and its answer at a time. */
final class Qmp implements AutoCloseable {
    private final SocketChannel channel;
    private final BufferedReader in;
    private final ObjectMapper json = new ObjectMapper();

    private Qmp(SocketChannel channel) {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
    }

    static Qmp connect(Path socket) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            try {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(socket));
                Qmp q = new Qmp(ch);
                q.in.readLine(); // the greeting
                q.execute("{\"execute\":\"qmp_capabilities\"}");
                return q;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(20);
            }
        }
    }

    /** Sends a command and returns its answer (events in between are skipped). */
    JsonNode execute(String command) throws IOException {
        channel.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.UTF_8)));
        while (true) {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("QMP closed");
            }
            JsonNode n = json.readTree(line);
            if (n.has("return") || n.has("error")) {
                if (n.has("error")) {
                    throw new IOException("QMP error for " + command + ": " + n.get("error"));
                }
                return n;
            }
        }
    }

    /** Polls query-migrate until the migration completed; returns its answer (total-time, downtime). */
    JsonNode awaitMigration(int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            JsonNode r = execute("{\"execute\":\"query-migrate\"}").path("return");
            String status = r.path("status").asText();
            if (status.equals("completed")) {
                return r;
            }
            if (status.equals("failed") || status.equals("cancelled")) {
                throw new IllegalStateException("QEMU migration " + status + ": " + r);
            }
            Thread.sleep(5);
        }
        throw new IllegalStateException("QEMU migration did not complete in " + seconds + " s");
    }

    /** Polls query-status until the guest runs (an incoming migration loaded and resumed). */
    void awaitRunning(int seconds) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < deadline) {
            if (execute("{\"execute\":\"query-status\"}").path("return").path("status").asText().equals("running")) {
                return;
            }
            Thread.sleep(1);
        }
        throw new IllegalStateException("QEMU did not run in " + seconds + " s");
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
