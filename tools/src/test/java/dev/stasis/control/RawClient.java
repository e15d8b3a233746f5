package dev.stasis.control;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/** A control-socket client that sends any bytes and reads answers line by line: for hostile tests. */
public final class RawClient implements AutoCloseable {
    private final SocketChannel channel;
    private final ByteBuffer in = ByteBuffer.allocate(1 << 16);

    public RawClient(Path socket) throws IOException {
        channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        channel.connect(UnixDomainSocketAddress.of(socket));
        in.flip();
    }

    /** Sends {@code line} and a newline. */
    public void send(byte[] line) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(line.length + 1).put(line).put((byte) '\n').flip();
        write(b);
    }

    public void send(String line) throws IOException {
        send(line.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends bytes as they are (no newline added). */
    public void write(ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            channel.write(b);
        }
    }

    /** The next line from the VM, or null when it closed the connection. */
    public String readLine() throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        while (true) {
            while (in.hasRemaining()) {
                byte b = in.get();
                if (b == '\n') {
                    return line.toString(StandardCharsets.UTF_8);
                }
                line.write(b);
            }
            in.clear();
            int n;
            try {
                n = channel.read(in);
            } catch (IOException e) {
                n = -1; // reset: closed with our bytes unread
            }
            in.flip();
            if (n < 0) {
                return line.size() == 0 ? null : line.toString(StandardCharsets.UTF_8);
            }
        }
    }

    /** The next answer as JSON, or null when the VM closed the connection. */
    public JsonNode answer() throws IOException {
        return parse(readLine());
    }

    /** An answer line as JSON (null for null). */
    public static JsonNode parse(String line) throws IOException {
        return line == null ? null : ControlServer.json().readTree(line);
    }

    /** Sends one request line and returns its answer. */
    public JsonNode call(String line) throws IOException {
        send(line);
        return answer();
    }

    public void shutdownOutput() throws IOException {
        channel.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
