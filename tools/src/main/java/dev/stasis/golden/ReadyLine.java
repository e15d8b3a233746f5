package dev.stasis.golden;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * A guest console that passes every byte on and watches, line by line, for the first line matching a pattern:
 * the moment a golden image is taken.
 */
public final class ReadyLine extends OutputStream {
    private final Pattern ready;
    private final OutputStream echo;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private final CountDownLatch seen = new CountDownLatch(1);
    private volatile String matched;

    public ReadyLine(Pattern ready, OutputStream echo) {
        this.ready = ready;
        this.echo = echo;
    }

    @Override
    public synchronized void write(int b) throws IOException {
        echo.write(b);
        if (b == '\n') {
            String text = line.toString(StandardCharsets.ISO_8859_1).strip();
            line.reset();
            if (matched == null && ready.matcher(text).find()) {
                matched = text;
                seen.countDown();
            }
        } else if (line.size() < 64 << 10) { // a line without end cannot grow without bound
            line.write(b);
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        echo.flush();
    }

    /** Waits up to {@code millis} for the line; returns it, or null. */
    public String await(long millis) throws InterruptedException {
        return seen.await(millis, TimeUnit.MILLISECONDS) ? matched : null;
    }
}
