package dev.stasis.forensics;

import dev.stasis.cli.CliProcess;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.fixtures.RunningGuest;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.snapshot.container.WriterOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stasis diff} on two snapshots of a running {@code dirtier} taken a moment apart, and on one file with itself. */
@RequiresKvm
class SnapshotDiffTest {
    private static final long BASE = 16 << 20;
    private static final int PAGES = 64;
    private static final Pattern ROUND = Pattern.compile("dirtier ok round=(\\d+) .*");

    @TempDir
    Path dir;

    @Test
    void pagesAndCountersDifferAndAFileEqualsItself() throws Exception {
        try (RunningGuest g = RunningGuest.start("dirtier", 1, Map.of("pages", String.valueOf(PAGES), "report", "1"))) {
            assertNotNull(g.await(ROUND, m -> Integer.parseInt(m.group(1)) >= 2, 0, Duration.ofSeconds(60)), g.output());
            save(g, "a.snap");
            // A round after the last whole one before the pause: a line the pause cut in two, finished after it,
            // is no new round.
            int last = 0;
            for (RunningGuest.Line line : g.lines()) {
                java.util.regex.Matcher m = ROUND.matcher(line.text());
                if (m.matches()) {
                    last = Math.max(last, Integer.parseInt(m.group(1)));
                }
            }
            int before = last;
            assertNotNull(g.await(ROUND, m -> Integer.parseInt(m.group(1)) > before + 1, 0, Duration.ofSeconds(60)), g.output());
            save(g, "b.snap");
        }

        CliProcess same = CliProcess.runIn(dir, List.of(), "diff", "a.snap", "a.snap");
        assertEquals(0, same.status(), same.err());
        assertEquals("", same.out());

        CliProcess text = CliProcess.runIn(dir, List.of(), "diff", "a.snap", "b.snap");
        assertEquals(1, text.status(), text.err());
        // The guest ran between the two: some register moved (which one depends on where each pause caught it).
        assertTrue(text.out().contains("vcpu#0 regs."), text.out());
        assertTrue(Pattern.compile("(?m)^memory: \\d+ of 16384 pages differ").matcher(text.out()).find(), text.out());

        CliProcess json = CliProcess.runIn(dir, List.of(), "diff", "a.snap", "b.snap", "--json");
        assertEquals(1, json.status(), json.err());
        JsonNode d = new ObjectMapper().readTree(json.out());
        assertEquals(false, d.path("equal").asBoolean());
        assertTrue(d.path("memory").path("pages_differ").asLong() > 0, json.out());
        boolean inDirtierPages = false;
        for (JsonNode r : d.path("memory").path("differing")) {
            long start = Long.decode(r.path("gpa").asText());
            long end = Long.decode(r.path("end").asText());
            inDirtierPages |= start < BASE + PAGES * 4096L && end > BASE;
        }
        assertTrue(inDirtierPages, json.out());
        assertTrue(hasField(d, "clock#0", "kvmclock_ns"), json.out());

        // The guest's own round counter, qword 1 of each page, went up between the files.
        try (SnapshotImage a = SnapshotImage.open(dir.resolve("a.snap")); SnapshotImage b = SnapshotImage.open(dir.resolve("b.snap"))) {
            long ga = a.memory(n -> { }).readLong(BASE + 8);
            long gb = b.memory(n -> { }).readLong(BASE + 8);
            assertTrue(gb > ga && ga >= 1, ga + " -> " + gb);
        }
    }

    private void save(RunningGuest g, String name) throws Exception {
        g.machine().vm().pauseAll();
        try {
            Checkpoint.save(g.machine(), dir.resolve(name), WriterOptions.defaults());
        } finally {
            g.machine().vm().resumeAll();
        }
    }

    private static boolean hasField(JsonNode d, String section, String field) {
        for (JsonNode f : d.path("fields")) {
            if (f.path("section").asText().equals(section) && f.path("field").asText().equals(field)) {
                return true;
            }
        }
        return false;
    }
}
