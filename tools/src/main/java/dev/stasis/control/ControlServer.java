package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The control socket of a running VM ({@code --api-socket PATH}): a Unix stream socket, mode 0600, that
 * takes one JSON request per line, {@code {"command":"snapshot","path":"/tmp/a.stasis"}}, and answers each
 * with one JSON line, {@code {"ok":true,"result":{...}}} or {@code {"ok":false,"error":"..."}}.
 * Requests are served one at a time, in order of arrival.
 */
public final class ControlServer implements AutoCloseable {
    /** One command: takes the request object, returns the result object (or throws with a message). */
    public interface Handler {
        ObjectNode handle(JsonNode request) throws Exception;
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Something a handler wants done once its reply is on the wire (e.g. ending the VM it reports on). */
    private static final ThreadLocal<Runnable> AFTER_REPLY = new ThreadLocal<>();

    /** Called from a handler: runs {@code action} after this request's reply is written (or failed to be). */
    public static void afterReply(Runnable action) {
        AFTER_REPLY.set(action);
    }

    /** Where a request being handled on this thread may send interim lines. */
    private static final ThreadLocal<OutputStream> CURRENT = new ThreadLocal<>();

    /**
     * Called from a handler: where to send interim {@code {"progress":event}} lines for this request, before its
     * answer. The sink may be used from any thread until the handler returns; it is best effort (a client gone
     * is ignored). Clients that asked for progress read such lines until the answer.
     */
    public static Consumer<ObjectNode> progressSink() {
        OutputStream out = CURRENT.get();
        if (out == null) {
            return event -> { };
        }
        return event -> {
            ObjectNode line = JSON.createObjectNode();
            line.set("progress", event);
            try {
                synchronized (out) {
                    out.write((JSON.writeValueAsString(line) + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
            } catch (IOException e) {
                // The client went away; the answer will fail to send the same way.
            }
        };
    }

    private final Path path;
    private final ServerSocketChannel server;
    private volatile Map<String, Handler> handlers;
    private final Thread acceptor;
    private volatile boolean closed;
    /** The connection being served, closed by {@link #close} so an idle client cannot hold the acceptor. */
    private volatile SocketChannel current;

    private ControlServer(Path path, ServerSocketChannel server, Map<String, Handler> handlers) {
        this.path = path;
        this.server = server;
        this.handlers = Map.copyOf(handlers);
        this.acceptor = new Thread(this::acceptLoop, "control-socket");
        this.acceptor.setDaemon(true);
    }

    /**
     * Binds {@code path}. A stale socket file left by a dead VMM is replaced; a live one (something answers)
     * or any other file there is refused.
     */
    public static ControlServer start(Path path, Map<String, Handler> handlers) throws IOException {
        ControlServer s = bind(path);
        s.serve(handlers);
        return s;
    }

    /**
     * Binds {@code path} before there is a VM to serve (a migration's destination binds first, so a bad path
     * fails before the guest moves); until {@link #serve}, every request is answered "not ready".
     */
    public static ControlServer bind(Path path) throws IOException {
        if (Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!isStaleSocket(path)) {
                throw new IOException(path + " is in use (another VM's control socket, or not a socket)");
            }
            Files.delete(path);
        }
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException e) {
            server.close();
            throw new IOException("cannot listen on " + path + ": " + e.getMessage(), e);
        }
        ControlServer s = new ControlServer(path, server, Map.of());
        s.acceptor.start();
        return s;
    }

    /** The commands to answer from now on. */
    public void serve(Map<String, Handler> commands) {
        this.handlers = Map.copyOf(commands);
    }

    private static boolean isStaleSocket(Path path) {
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            return false;
        } catch (IOException e) {
            return !Files.isRegularFile(path) && !Files.isDirectory(path);
        }
    }

    public Path path() {
        return path;
    }

    private void acceptLoop() {
        while (!closed) {
            try (SocketChannel client = server.accept()) {
                current = client;
                serveClient(client);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
                // One client's broken connection must not stop the socket.
            } finally {
                current = null;
            }
        }
    }

    private void serveClient(SocketChannel client) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(client), StandardCharsets.UTF_8));
        OutputStream out = Channels.newOutputStream(client);
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            CURRENT.set(out);
            ObjectNode reply;
            try {
                reply = answer(line);
            } finally {
                CURRENT.remove();
            }
            try {
                out.write((JSON.writeValueAsString(reply) + "\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } finally {
                Runnable after = AFTER_REPLY.get();
                AFTER_REPLY.remove();
                if (after != null) {
                    after.run();
                }
            }
            if (reply.path("close").asBoolean(false)) {
                return;
            }
        }
    }

    private ObjectNode answer(String line) {
        ObjectNode reply = JSON.createObjectNode();
        try {
            JsonNode request = JSON.readTree(line);
            String command = request.path("command").asText("");
            Map<String, Handler> commands = handlers;
            if (commands.isEmpty()) {
                throw new IllegalStateException("the VM is not ready yet");
            }
            Handler h = commands.get(command);
            if (h == null) {
                throw new IllegalArgumentException("unknown command '" + command + "'; known: " + String.join(", ", commands.keySet().stream().sorted().toList()));
            }
            reply.put("ok", true);
            reply.set("result", h.handle(request));
        } catch (Exception | AssertionError e) {
            // An error in one command must not kill the socket: the client gets it as the answer.
            reply.removeAll();
            reply.put("ok", false);
            reply.put("error", e.getMessage() == null ? e.toString() : e.getMessage());
        }
        return reply;
    }

    @Override
    public void close() {
        closeAndAwait(java.time.Duration.ofSeconds(5));
    }

    /**
     * Stops listening, drops the connection being served, and waits up to {@code timeout} for a command
     * still running (a snapshot or migration reading guest RAM) to finish. Returns whether nothing runs any
     * more: only then may the caller unmap the VM's memory.
     */
    public boolean closeAndAwait(java.time.Duration timeout) {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // Closing a listening socket does not fail in a way we can act on.
        }
        SocketChannel client = current;
        if (client != null) {
            try {
                client.close();
            } catch (IOException ignored) {
                // Already gone.
            }
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // A socket file we cannot delete is replaced by the next VM as stale.
        }
        try {
            acceptor.join(timeout.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return !acceptor.isAlive();
    }

    static ObjectMapper json() {
        return JSON;
    }
}
