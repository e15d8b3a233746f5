package dev.stasis.control;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.stream.Collectors;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;

/**
 * The control socket of a running VM ({@code --api-socket PATH}): a Unix stream socket that takes one JSON
 * request per line, {@code {"command":"snapshot","path":"/tmp/a.stasis"}}, and answers each with one JSON
 * line, {@code {"ok":true,"result":{...}}} or {@code {"ok":false,"error":"..."}}.
 *
 * <p>The rules (README, "Control socket"): the socket file is mode 0600 from the moment it exists
 * ({@link SocketFile}); a client is served only if its credentials (SO_PEERCRED) are this VM's user or root;
 * up to {@link Limits#maxClients} clients at once, each on its own threads, each request at most
 * {@link Limits#maxRequestBytes} long, each client closed when it sends no complete request (or does not read
 * an answer) for {@link Limits#idleTimeout}; a request is checked against its command's schema before
 * anything runs; commands that change the VM run one at a time under a {@link CommandOwner}, and one whose
 * client left while it waited is dropped.
 */
public final class ControlServer implements AutoCloseable {
    /** What one client may take. */
    public record Limits(int maxClients, int maxRequestBytes, Duration idleTimeout) {
        public static final Limits DEFAULT = new Limits(16, 64 << 10, Duration.ofSeconds(30));

        public Limits {
            if (maxClients < 1 || maxRequestBytes < 256 || idleTimeout.isNegative() || idleTimeout.isZero()) {
                throw new IllegalArgumentException("control socket limits need maxClients >= 1, maxRequestBytes >= 256, a positive idle timeout");
            }
        }
    }

    /** Strict: a duplicate key or text after the object is an error, not a value silently taken or ignored. */
    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();
    /** Something a handler wants done once its reply is on the wire (e.g. ending the VM it reports on). */
    private static final ThreadLocal<Runnable> AFTER_REPLY = new ThreadLocal<>();
    /** The client whose request is being handled on this thread, for interim lines. */
    private static final ThreadLocal<ClientConnection> CURRENT = new ThreadLocal<>();

    /** Called from a handler: runs {@code action} after this request's reply is written (or failed to be). */
    public static void afterReply(Runnable action) {
        AFTER_REPLY.set(action);
    }

    /**
     * Called from a handler: where to send interim {@code {"progress":event}} lines for this request, before its
     * answer. The sink may be used from any thread until the handler returns; it is best effort (a client gone
     * is ignored). Clients that asked for progress read such lines until the answer.
     */
    public static Consumer<ObjectNode> progressSink() {
        ClientConnection client = CURRENT.get();
        if (client == null) {
            return event -> { };
        }
        return event -> {
            ObjectNode line = JSON.createObjectNode();
            line.set("progress", event);
            try {
                client.send(line.toString());
            } catch (IOException e) {
                // The client went away; the answer will fail to send the same way.
            }
        };
    }

    private final Path path;
    private final ServerSocketChannel server;
    private final UserPrincipal vmUser;
    private final UserPrincipal root;
    private final Limits limits;
    private final Consumer<String> log;
    private final CommandOwner owner = new CommandOwner();
    private final Set<ClientConnection> clients = ConcurrentHashMap.newKeySet();
    private final AtomicInteger ids = new AtomicInteger();
    private final Thread acceptor;
    private final ScheduledExecutorService reaper;
    private volatile Map<String, Command> commands = Map.of();
    private volatile boolean closed;
    private int running; // handlers in progress; guarded by this

    private ControlServer(Path path, SocketFile socket, Limits limits, Consumer<String> log) {
        this.path = path;
        this.server = socket.channel();
        this.vmUser = socket.owner();
        this.root = rootUser();
        this.limits = limits;
        this.log = log;
        this.acceptor = daemon(this::acceptLoop, "control-socket");
        this.reaper = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "control-socket-reaper"));
        long period = Math.max(10, Math.min(250, limits.idleTimeout().toMillis() / 10));
        reaper.scheduleWithFixedDelay(this::reap, period, period, TimeUnit.MILLISECONDS);
        acceptor.start();
    }

    /** Binds {@code path} and serves {@code commands}, with the default limits, logging on stderr. */
    public static ControlServer start(Path path, List<Command> commands) throws IOException {
        ControlServer s = bind(path, Limits.DEFAULT, ControlServer::stderr);
        s.serve(commands);
        return s;
    }

    /**
     * Binds {@code path} before there is a VM to serve (a migration's destination binds first, so a bad path
     * fails before the guest moves); until {@link #serve}, every request is answered "not ready". A stale socket
     * file left by a dead VMM is replaced; a live one (something answers) or any other file there is refused.
     */
    public static ControlServer bind(Path path) throws IOException {
        return bind(path, Limits.DEFAULT, ControlServer::stderr);
    }

    /** {@link #bind(Path)} with its own limits and log (one line per refused or closed client). */
    public static ControlServer bind(Path path, Limits limits, Consumer<String> log) throws IOException {
        return new ControlServer(path, SocketFile.bind(path), limits, log);
    }

    /** The commands to answer from now on. */
    public void serve(List<Command> served) {
        this.commands = served.stream().collect(Collectors.toUnmodifiableMap(Command::name, Function.identity()));
    }

    public Path path() {
        return path;
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                if (closed) {
                    return;
                }
                continue; // one client's broken connection must not stop the socket
            }
            admit(ch);
        }
    }

    /** Checks who connected and whether there is room, then gives the client its threads. */
    private void admit(SocketChannel ch) {
        int id = ids.incrementAndGet();
        String refusal;
        String who;
        try {
            UnixDomainPrincipal peer = ch.getOption(ExtendedSocketOptions.SO_PEERCRED);
            who = "client " + id + " (" + peer.user().getName() + ")";
            refusal = peer.user().equals(vmUser) || peer.user().equals(root) ? null
                    : "this VM's control socket serves only " + (vmUser.equals(root) ? "root" : vmUser.getName() + " and root") + ", not " + peer.user().getName();
        } catch (IOException | UnsupportedOperationException e) {
            who = "client " + id;
            refusal = "cannot read the client's credentials (SO_PEERCRED): " + e.getMessage();
        }
        ClientConnection client = new ClientConnection(id, who, ch, limits.maxRequestBytes());
        if (refusal == null) {
            synchronized (clients) {
                if (clients.size() >= limits.maxClients()) {
                    refusal = "too many clients (" + limits.maxClients() + ") are connected; try again later";
                } else {
                    clients.add(client);
                }
            }
        }
        if (refusal != null) {
            log.accept("refused " + who + ": " + refusal);
            try {
                client.send(error(refusal).toString()); // a fresh socket's buffer takes one line without blocking
            } catch (IOException ignored) {
                // Gone already.
            }
            client.close();
            return;
        }
        daemon(() -> client.readLoop(log), "control-read-" + id).start();
        daemon(() -> serve(client), "control-client-" + id).start();
    }

    /** A client's worker: its requests one at a time, in order. */
    private void serve(ClientConnection client) {
        try {
            byte[] line;
            while (!closed && (line = client.nextRequest()) != null) {
                client.busy = true;
                try {
                    if (!answer(line, client)) {
                        return;
                    }
                } finally {
                    client.idleSince = System.nanoTime();
                    client.busy = false;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            clients.remove(client);
            client.close();
        }
    }

    /** Handles one request and writes its answer; false when the connection is done for. */
    private boolean answer(byte[] line, ClientConnection client) {
        synchronized (this) {
            if (closed) {
                return false;
            }
            running++;
        }
        CURRENT.set(client);
        ObjectNode reply;
        try {
            reply = JSON.createObjectNode().put("ok", true).set("result", handle(line, client));
        } catch (CommandOwner.Cancelled e) {
            log.accept(e.getMessage());
            return false;
        } catch (Exception | AssertionError e) {
            // An error in one request must not kill the socket: the client gets it as the answer.
            reply = error(e.getMessage() == null ? "internal error (" + e.getClass().getSimpleName() + ")" : e.getMessage());
        } finally {
            CURRENT.remove();
            synchronized (this) {
                running--;
                notifyAll();
            }
        }
        try {
            client.send(reply.toString());
            return true;
        } catch (IOException e) {
            return false;
        } finally {
            Runnable after = AFTER_REPLY.get();
            AFTER_REPLY.remove();
            if (after != null) {
                after.run();
            }
        }
    }

    private ObjectNode handle(byte[] line, ClientConnection client) throws Exception {
        JsonNode request = parse(line);
        if (!request.isObject()) {
            throw new IllegalArgumentException("a request is a JSON object, not " + request.getNodeType().toString().toLowerCase());
        }
        JsonNode name = request.get("command");
        if (name == null || !name.isTextual()) {
            throw new IllegalArgumentException("a request needs \"command\", a string");
        }
        Map<String, Command> served = commands;
        if (served.isEmpty()) {
            throw new IllegalStateException("the VM is not ready yet");
        }
        Command command = served.get(name.textValue());
        if (command == null) {
            String shown = name.textValue().length() > 40 ? name.textValue().substring(0, 40) + "..." : name.textValue();
            throw new IllegalArgumentException("unknown command '" + shown + "'; known: " + String.join(", ", served.keySet().stream().sorted().toList()));
        }
        Request r = command.schema().validate(command.name(), request, owner.owner());
        if (!command.changesVm()) {
            return command.handler().handle(r);
        }
        return owner.run(command.name() + " for " + client.who, client::gone, () -> command.handler().handle(r));
    }

    /** One JSON value, strictly: one clear line for whatever is wrong with it. */
    static JsonNode parse(byte[] line) {
        try {
            return JSON.readTree(line);
        } catch (StreamConstraintsException e) {
            throw new IllegalArgumentException("request refused: " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            String m = e.getOriginalMessage();
            if (m.startsWith("Duplicate field ")) {
                throw new IllegalArgumentException("duplicate key " + m.substring("Duplicate field ".length()).replace('\'', '"') + " in the request");
            }
            if (m.startsWith("Trailing token")) {
                throw new IllegalArgumentException("text after the request's JSON object (one request per line)");
            }
            long column = e.getLocation() == null ? -1 : e.getLocation().getColumnNr();
            throw new IllegalArgumentException("the request is not valid JSON at column " + column + ": " + m.lines().findFirst().orElse(m));
        } catch (IOException e) {
            throw new IllegalArgumentException("the request cannot be read: " + e.getMessage());
        }
    }

    static ObjectNode error(String message) {
        return JSON.createObjectNode().put("ok", false).put("error", message.replace('\n', ' '));
    }

    /** Closes clients that sent no complete request, or have not read an answer, within the idle timeout. */
    private void reap() {
        long now = System.nanoTime();
        long idle = limits.idleTimeout().toNanos();
        for (ClientConnection c : clients) {
            long writing = c.writingSince;
            if (writing != 0 && now - writing > idle) {
                log.accept("closed " + c.who + ": it did not read its answer for " + limits.idleTimeout().toSeconds() + " s");
                c.close();
            } else if (!c.busy && now - c.idleSince > idle) {
                c.close(); // an idle client is not news: no log line
            }
        }
    }

    @Override
    public void close() {
        closeAndAwait(Duration.ofSeconds(5));
    }

    /**
     * Stops listening, drops every client (a command waiting its turn is thereby cancelled), and waits up to
     * {@code timeout} for commands still running (a snapshot or migration reading guest RAM) to finish.
     * Returns whether nothing runs any more: only then may the caller unmap the VM's memory.
     */
    public boolean closeAndAwait(Duration timeout) {
        synchronized (this) {
            closed = true;
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // Closing a listening socket does not fail in a way we can act on.
        }
        clients.forEach(ClientConnection::close);
        reaper.shutdownNow();
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // A socket file we cannot delete is replaced by the next VM as stale.
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            while (running > 0) {
                long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
                if (left <= 0) {
                    return false;
                }
                try {
                    wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return true;
    }

    static ObjectMapper json() {
        return JSON;
    }

    /** uid 0, by name where there is a user database, else by number (a jail has no /etc/passwd). */
    private static UserPrincipal rootUser() {
        var users = FileSystems.getDefault().getUserPrincipalLookupService();
        try {
            return users.lookupPrincipalByName("root");
        } catch (IOException e) {
            try {
                return users.lookupPrincipalByName("0"); // the JDK takes a number as the uid; principals compare by uid
            } catch (IOException none) {
                return null; // only the VM's own user is served
            }
        }
    }

    private static void stderr(String line) {
        System.err.println("stasis: control socket: " + line);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }
}
