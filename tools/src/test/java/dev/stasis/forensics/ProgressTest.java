package dev.stasis.forensics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ProgressTest {
    @Test
    void showsBytesRateAndTimeLeft() {
        AtomicLong now = new AtomicLong(0);
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Progress p = new Progress(new PrintStream(buf, true, StandardCharsets.UTF_8), "core", 100L << 20, now::get);
        now.set(1_000_000_000L);
        p.accept(25L << 20);
        assertEquals("core  25.0 MiB / 100.0 MiB   25%  25.0 MiB/s  0:03 left", p.line(now.get()));
        now.set(4_000_000_000L);
        p.accept(75L << 20);
        p.close();
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.startsWith("\rcore  25.0 MiB"), out);
        assertTrue(out.endsWith("\rcore  100.0 MiB / 100.0 MiB  100%  25.0 MiB/s  0:04 total\n"), out);
    }

    @Test
    void printsNothingWhenStderrIsNotATerminal() {
        // Under the test runner fd 2 is a pipe, as when a user redirects stderr.
        PrintStream saved = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setErr(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try (Progress p = Progress.start("core", 1 << 20)) {
            p.accept(1 << 20);
            assertEquals(1 << 20, p.done());
        } finally {
            System.setErr(saved);
        }
        assertEquals("", buf.toString(StandardCharsets.UTF_8));
    }

    @Test
    void humanSizes() {
        assertEquals("512 B", Progress.bytes(512));
        assertEquals("1.5 KiB", Progress.bytes(1536));
        assertEquals("2.0 GiB", Progress.bytes(2L << 30));
        assertEquals("1:01:01", Progress.clockTime(3661));
    }
}
