package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.function.Consumer;

/** Sends one request to a VM's control socket and returns its result, or throws with the VM's error. */
public final class ControlClient {
    private ControlClient() {}

    public static JsonNode call(Path socket, ObjectNode request) throws IOException {
        return call(socket, request, event -> { });
    }

    /** Like {@link #call(Path, ObjectNode)}, passing each interim {@code progress} event to {@code onProgress}. */
    public static JsonNode call(Path socket, ObjectNode request, Consumer<JsonNode> onProgress) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                throw new IOException("cannot reach the VM at " + socket + ": " + e.getMessage(), e);
            }
            var out = Channels.newOutputStream(ch);
            out.write((ControlServer.json().writeValueAsString(request) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
            JsonNode reply;
            while (true) {
                String line = in.readLine();
                if (line == null) {
                    throw new IOException("the VM at " + socket + " closed the connection without answering");
                }
                reply = ControlServer.json().readTree(line);
                if (!reply.has("progress")) {
                    break;
                }
                onProgress.accept(reply.get("progress"));
            }
            if (!reply.path("ok").asBoolean(false)) {
                throw new IOException(reply.path("error").asText("the VM refused the request"));
            }
            return reply.path("result");
        }
    }

    public static ObjectNode request(String command) {
        return ControlServer.json().createObjectNode().put("command", command);
    }
}
