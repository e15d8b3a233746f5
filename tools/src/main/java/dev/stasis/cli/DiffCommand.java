package dev.stasis.cli;

import dev.stasis.snapshot.inspect.RecordJson;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.forensics.Progress;
import dev.stasis.forensics.SnapshotImage;
import dev.stasis.forensics.Values;
import dev.stasis.forensics.diff.FieldChange;
import dev.stasis.forensics.diff.MemoryDiff;
import dev.stasis.forensics.diff.SnapshotDiff;
import dev.stasis.snapshot.container.RamRange;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stasis diff}: what differs between two snapshot files. Exit 0 when nothing does, 1 when something does (like diff(1)). */
@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"List what differs between snapshots A and B: sections present in one only, fields that differ",
                "(by name, through nested structs and lists, from the files' own schemas), and guest pages that differ",
                "(count and coalesced guest-physical ranges). Exit status: 0 no differences, 1 differences, 2 trouble."})
final class DiffCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "A", description = "a snapshot file")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "another snapshot file")
    Path b;

    @Option(names = "--json", description = "print the differences as JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        SnapshotDiff diff;
        try (SnapshotImage ia = SnapshotImage.open(a); SnapshotImage ib = SnapshotImage.open(b);
             Progress progress = Progress.start("reading memory", ia.memoryBytes() + ib.memoryBytes())) {
            diff = SnapshotDiff.of(ia, ib, progress);
        }
        if (json) {
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(toJson(diff)));
        } else {
            print(diff);
        }
        return diff.isEmpty() ? 0 : 1;
    }

    private void print(SnapshotDiff d) {
        if (!d.sectionsOnlyInA().isEmpty()) {
            System.out.println("sections only in " + a + ": " + String.join(" ", d.sectionsOnlyInA()));
        }
        if (!d.sectionsOnlyInB().isEmpty()) {
            System.out.println("sections only in " + b + ": " + String.join(" ", d.sectionsOnlyInB()));
        }
        for (FieldChange c : d.fields()) {
            System.out.println(c.text());
        }
        MemoryDiff m = d.memory();
        if (!m.onlyInA().isEmpty()) {
            System.out.println("memory only in " + a + ": " + m.onlyInA());
        }
        if (!m.onlyInB().isEmpty()) {
            System.out.println("memory only in " + b + ": " + m.onlyInB());
        }
        if (m.pagesDiffer() > 0) {
            System.out.printf("memory: %d of %d pages differ, in %d range%s%n", m.pagesDiffer(), m.pagesCompared(), m.differing().size(),
                    m.differing().size() == 1 ? "" : "s");
            for (RamRange r : m.differing()) {
                System.out.printf("  %s (%d page%s)%n", r, r.size() / m.pageSize(), r.size() == m.pageSize() ? "" : "s");
            }
        }
    }

    static ObjectNode toJson(SnapshotDiff d) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode().put("equal", d.isEmpty());
        o.set("sections_only_in_a", m.valueToTree(d.sectionsOnlyInA()));
        o.set("sections_only_in_b", m.valueToTree(d.sectionsOnlyInB()));
        ArrayNode fields = o.putArray("fields");
        for (FieldChange c : d.fields()) {
            ObjectNode f = fields.addObject().put("section", c.section()).put("field", c.field());
            f.set("a", c.a() == null ? null : RecordJson.value(c.a(), c.schema(), true));
            f.set("b", c.b() == null ? null : RecordJson.value(c.b(), c.schema(), true));
        }
        MemoryDiff mem = d.memory();
        ObjectNode mo = o.putObject("memory").put("page_size", mem.pageSize()).put("pages_compared", mem.pagesCompared())
                .put("pages_differ", mem.pagesDiffer());
        ranges(mo.putArray("differing"), mem.differing(), mem.pageSize());
        ranges(mo.putArray("only_in_a"), mem.onlyInA(), mem.pageSize());
        ranges(mo.putArray("only_in_b"), mem.onlyInB(), mem.pageSize());
        return o;
    }

    private static void ranges(ArrayNode out, List<RamRange> ranges, int pageSize) {
        for (RamRange r : ranges) {
            out.addObject().put("gpa", "0x" + Long.toHexString(r.gpa())).put("end", "0x" + Long.toHexString(r.end())).put("pages", r.size() / pageSize);
        }
    }
}
