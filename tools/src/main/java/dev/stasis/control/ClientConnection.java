package dev.stasis.control;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * One client of the control socket. A reader thread takes its bytes as they come and cuts them into request
 * lines, so the server learns at once when the client goes away, even while one of its commands waits or
 * runs; the worker thread takes the lines one at a time and writes the answers. What a client may hold:
 * at most {@code maxBytes} of requests not yet answered (a longer line, or more sent ahead, closes it).
 * How long it may take is the server's reaper's to judge, from {@link #idleSince} and {@link #writingSince}.
 */
final class ClientConnection {
    private static final byte[] END = new byte[0];
    /** Queued behind the requests read before an overlong one: their answers go out first, then the refusal. */
    private static final byte[] REFUSED = new byte[0];
    private volatile String refusal;

    final int id;
    final String who;
    private final SocketChannel channel;
    private final int maxBytes;
    private final LinkedBlockingQueue<byte[]> lines = new LinkedBlockingQueue<>();
    private final Object writeLock = new Object();
    private long queuedBytes; // guarded by lines
    private volatile boolean gone;
    /** When the client last had nothing pending with us: connected, a request arrived, or an answer went out. */
    volatile long idleSince = System.nanoTime();
    /** A request is being answered. */
    volatile boolean busy;
    /** When the write going on now began, 0 when none: a client that does not read stalls it. */
    volatile long writingSince;

    ClientConnection(int id, String who, SocketChannel channel, int maxBytes) {
        this.id = id;
        this.who = who;
        this.channel = channel;
        this.maxBytes = maxBytes;
    }

    /** The reader thread's loop; returns when the client closes, breaks the rules or is closed. */
    void readLoop(java.util.function.Consumer<String> log) {
        ByteBuffer buf = ByteBuffer.allocate(8192);
        byte[] partial = new byte[1024];
        int used = 0;
        try {
            while (channel.read(buf.clear()) >= 0) {
                byte[] a = buf.array();
                int from = 0;
                for (int i = 0; i < buf.position(); i++) {
                    if (a[i] != '\n') {
                        continue;
                    }
                    int n = i - from;
                    if (!fits(used + n)) {
                        refuse(log, used + n);
                        return;
                    }
                    byte[] line = Arrays.copyOf(partial, used + n);
                    System.arraycopy(a, from, line, used, n);
                    used = 0;
                    from = i + 1;
                    if (!isBlank(line)) {
                        synchronized (lines) {
                            queuedBytes += line.length;
                        }
                        idleSince = System.nanoTime();
                        lines.add(line);
                    }
                }
                int rest = buf.position() - from;
                if (!fits(used + rest)) {
                    refuse(log, used + rest);
                    return;
                }
                if (used + rest > partial.length) {
                    partial = Arrays.copyOf(partial, Math.min(maxBytes, Math.max(used + rest, partial.length * 2)));
                }
                System.arraycopy(a, from, partial, used, rest);
                used += rest;
            }
        } catch (IOException e) {
            // Reset, or closed by the server: the client is gone either way.
        } finally {
            gone = true;
            lines.add(END);
        }
    }

    /** Whether {@code pending} more bytes of an unfinished line still fit beside the requests not yet taken. */
    private boolean fits(int pending) {
        synchronized (lines) {
            return queuedBytes + pending <= maxBytes;
        }
    }

    /** Stops reading; the worker answers what came before, then sends the refusal and closes (see {@link #nextRequest}). */
    private void refuse(java.util.function.Consumer<String> log, int bytes) {
        refusal = "a request (with those sent ahead of it) is longer than " + maxBytes + " bytes";
        log.accept("closed " + who + ": " + refusal);
        lines.add(REFUSED);
    }

    private static boolean isBlank(byte[] line) {
        for (byte b : line) {
            if (b != ' ' && b != '\t' && b != '\r') {
                return false;
            }
        }
        return true;
    }

    /** The next request line, waiting for it; null once the client is gone and every line was taken. */
    byte[] nextRequest() throws InterruptedException {
        byte[] line = lines.take();
        if (line == END) {
            lines.add(END);
            return null;
        }
        if (line == REFUSED) {
            try {
                send(ControlServer.error(refusal + "; closing").toString());
            } catch (IOException ignored) {
                // It is being closed anyway.
            }
            close();
            lines.add(END);
            return null;
        }
        synchronized (lines) {
            queuedBytes -= line.length;
        }
        return line;
    }

    /** Whether the client closed (or half-closed) its connection, or it broke. */
    boolean gone() {
        return gone;
    }

    /** Writes one line; lines from several threads (progress, answer) never interleave. */
    void send(String line) throws IOException {
        ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
        synchronized (writeLock) {
            writingSince = System.nanoTime();
            try {
                while (b.hasRemaining()) {
                    channel.write(b);
                }
            } finally {
                writingSince = 0;
            }
        }
    }

    void close() {
        gone = true;
        try {
            channel.close();
        } catch (IOException ignored) {
            // Already closed.
        }
    }
}
