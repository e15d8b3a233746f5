package dev.stasis.forensics.diff;

import dev.stasis.forensics.PhysicalMemory;
import dev.stasis.forensics.SnapshotImage;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SectionInfo;
import dev.stasis.snapshot.state.FieldSchema;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.LongConsumer;

/**
 * What differs between two snapshot files, from the files alone: sections present in one only, fields that
 * differ (walking nested structs and lists by name through each file's schema, so no device class is needed),
 * and guest pages that differ. The manifest's creation time and host are not compared (they always differ).
 */
public record SnapshotDiff(List<String> sectionsOnlyInA, List<String> sectionsOnlyInB, List<FieldChange> fields, MemoryDiff memory) {
    private static final int PAGE = 4096;
    private static final int BLOCK = 1 << 20;

    public boolean isEmpty() {
        return sectionsOnlyInA.isEmpty() && sectionsOnlyInB.isEmpty() && fields.isEmpty() && memory.isEmpty();
    }

    public static SnapshotDiff of(SnapshotImage a, SnapshotImage b, LongConsumer progress) throws IOException {
        Map<String, SectionInfo> sa = byLabel(a);
        Map<String, SectionInfo> sb = byLabel(b);
        List<String> onlyA = sa.keySet().stream().filter(k -> !sb.containsKey(k)).toList();
        List<String> onlyB = sb.keySet().stream().filter(k -> !sa.containsKey(k)).toList();
        List<FieldChange> changes = new ArrayList<>();
        Map<String, String> pa = a.reader().manifest().properties();
        Map<String, String> pb = b.reader().manifest().properties();
        for (String key : union(pa.keySet(), pb.keySet())) {
            if (!Objects.equals(pa.get(key), pb.get(key))) {
                changes.add(new FieldChange("manifest", "properties." + key, pa.get(key), pb.get(key), null));
            }
        }
        for (Map.Entry<String, SectionInfo> e : sa.entrySet()) {
            SectionInfo ia = e.getValue();
            SectionInfo ib = sb.get(e.getKey());
            if (ib == null) {
                continue;
            }
            if (ia.version() != ib.version()) {
                changes.add(new FieldChange(e.getKey(), "(version)", (long) ia.version(), (long) ib.version(), null));
            }
            StateRecord ra = a.reader().record(ia.name(), ia.instance());
            StateRecord rb = b.reader().record(ib.name(), ib.instance());
            compareRecords(e.getKey(), "", ra, rb, ia.schema(), changes);
        }
        MemoryDiff memory = MemoryDiff.none();
        if (a.reader().memoryMap() != null || b.reader().memoryMap() != null) {
            memory = compareMemory(a, b, progress);
        }
        return new SnapshotDiff(onlyA, onlyB, changes, memory);
    }

    /** Compares two records field by field; {@code schema} types the values (may be null). */
    static void compareRecords(String section, String prefix, StateRecord a, StateRecord b, StructSchema schema, List<FieldChange> out) {
        for (String name : union(a.values().keySet(), b.values().keySet())) {
            FieldSchema f = schema == null ? null : schema.field(name);
            String path = prefix.isEmpty() ? name : prefix + "." + name;
            compareValues(section, path, a.values().get(name), b.values().get(name), f, out);
        }
    }

    private static void compareValues(String section, String path, Object a, Object b, FieldSchema f, List<FieldChange> out) {
        StructSchema element = f == null ? null : f.element();
        if (a instanceof StateRecord x && b instanceof StateRecord y) {
            compareRecords(section, path, x, y, element, out);
        } else if (a instanceof List<?> x && b instanceof List<?> y) {
            for (int i = 0; i < Math.min(x.size(), y.size()); i++) {
                compareValues(section, path + "[" + i + "]", x.get(i), y.get(i), f, out);
            }
            for (int i = Math.min(x.size(), y.size()); i < Math.max(x.size(), y.size()); i++) {
                compareValues(section, path + "[" + i + "]", i < x.size() ? x.get(i) : null, i < y.size() ? y.get(i) : null, f, out);
            }
        } else if (!same(a, b)) {
            out.add(new FieldChange(section, path, a, b, f));
        }
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof byte[] x && b instanceof byte[] y) {
            return Arrays.equals(x, y);
        }
        if (a instanceof long[] x && b instanceof long[] y) {
            return Arrays.equals(x, y);
        }
        return Objects.equals(a, b);
    }

    private static MemoryDiff compareMemory(SnapshotImage a, SnapshotImage b, LongConsumer progress) throws IOException {
        PhysicalMemory ma = a.reader().memoryMap() == null ? null : a.memory(progress);
        PhysicalMemory mb = b.reader().memoryMap() == null ? null : b.memory(progress);
        List<RamRange> ra = ma == null ? List.of() : ma.ranges();
        List<RamRange> rb = mb == null ? List.of() : mb.ranges();
        List<RamRange> both = intersect(ra, rb);
        List<RamRange> differing = new ArrayList<>();
        long compared = 0;
        long differ = 0;
        for (RamRange r : both) {
            for (long off = 0; off < r.size(); off += BLOCK) {
                int n = (int) Math.min(BLOCK, r.size() - off);
                long gpa = r.gpa() + off;
                ByteBuffer x = ma.view(gpa, n);
                ByteBuffer y = mb.view(gpa, n);
                compared += n / PAGE;
                if (x.mismatch(y) == -1) {
                    continue;
                }
                for (int p = 0; p < n; p += PAGE) {
                    if (x.slice(p, PAGE).mismatch(y.slice(p, PAGE)) != -1) {
                        differ++;
                        addPage(differing, gpa + p);
                    }
                }
            }
        }
        return new MemoryDiff(PAGE, compared, differ, differing, subtract(ra, rb), subtract(rb, ra));
    }

    /** Appends a page, merging it into the last range when adjacent. */
    private static void addPage(List<RamRange> ranges, long gpa) {
        int last = ranges.size() - 1;
        if (last >= 0 && ranges.get(last).end() == gpa) {
            ranges.set(last, new RamRange(ranges.get(last).gpa(), ranges.get(last).size() + PAGE));
        } else {
            ranges.add(new RamRange(gpa, PAGE));
        }
    }

    static List<RamRange> intersect(List<RamRange> a, List<RamRange> b) {
        List<RamRange> out = new ArrayList<>();
        for (RamRange x : a) {
            for (RamRange y : b) {
                long start = Math.max(x.gpa(), y.gpa());
                long end = Math.min(x.end(), y.end());
                if (start < end) {
                    out.add(new RamRange(start, end - start));
                }
            }
        }
        return out;
    }

    /** The parts of {@code a} not covered by {@code b}. */
    static List<RamRange> subtract(List<RamRange> a, List<RamRange> b) {
        List<RamRange> out = new ArrayList<>();
        for (RamRange x : a) {
            long at = x.gpa();
            for (RamRange y : b) {
                if (y.end() <= at || y.gpa() >= x.end()) {
                    continue;
                }
                if (y.gpa() > at) {
                    out.add(new RamRange(at, y.gpa() - at));
                }
                at = Math.max(at, y.end());
            }
            if (at < x.end()) {
                out.add(new RamRange(at, x.end() - at));
            }
        }
        return out;
    }

    private static Map<String, SectionInfo> byLabel(SnapshotImage image) {
        Map<String, SectionInfo> m = new LinkedHashMap<>();
        for (SectionInfo s : image.reader().sections()) {
            m.put(s.label(), s);
        }
        return m;
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> s = new LinkedHashSet<>(a);
        s.addAll(b);
        return s;
    }
}
