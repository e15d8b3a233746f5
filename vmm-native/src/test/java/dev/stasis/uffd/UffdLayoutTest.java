package dev.stasis.uffd;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.HeaderProgram;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every userfaultfd number the bindings hard-code ({@link UffdLayout}'s constants, sizes and offsets, and
 * {@link UffdIoctl}), checked against this machine's {@code <linux/userfaultfd.h>} by a C program compiled at
 * test time; both ways, so neither side can grow alone. A constant newer than the installed headers is checked
 * against the running kernel instead: it must offer the feature bit exactly when it is as new as the feature.
 */
class UffdLayoutTest {
    private static final String SOURCE = "uffd_layout.c";
    /** Constants newer than Debian 12's headers (6.1), with the kernel (major, minor) that brought each. */
    private static final Map<String, int[]> NEWER_THAN_HEADERS = Map.of("UFFD_FEATURE_WP_UNPOPULATED", new int[] {6, 4});
    private static Map<String, Long> fromC;

    @BeforeAll
    static void compileAndRun() throws Exception {
        fromC = HeaderProgram.run(UffdLayoutTest.class, SOURCE, "uffd-layout");
    }

    static Map<String, Long> javaValues() throws IllegalAccessException {
        Map<String, Long> m = new LinkedHashMap<>();
        for (Field f : UffdLayout.class.getDeclaredFields()) {
            int mod = f.getModifiers();
            if (Modifier.isPublic(mod) && Modifier.isStatic(mod) && Modifier.isFinal(mod)) {
                m.put("const " + f.getName(), ((Number) f.get(null)).longValue());
            }
        }
        for (UffdIoctl ioctl : UffdIoctl.values()) {
            m.put("ioctl " + ioctl.name(), ioctl.request);
        }
        return m;
    }

    @Test
    void everyJavaValueEqualsWhatTheHeaderSays() throws Exception {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, Long> e : javaValues().entrySet()) {
            String name = e.getKey().substring(e.getKey().indexOf(' ') + 1);
            Long c = fromC.get(e.getKey());
            if (c == null && fromC.containsKey("absent " + name) && NEWER_THAN_HEADERS.containsKey(name)) {
                continue; // checked against the kernel below
            }
            if (c == null) {
                problems.add("unchecked: " + e.getKey() + " (Java " + e.getValue() + ") is not printed by " + SOURCE);
            } else if (!c.equals(e.getValue())) {
                problems.add("mismatch: " + e.getKey() + " is 0x" + Long.toHexString(e.getValue()) + " in Java but 0x" + Long.toHexString(c) + " in <linux/userfaultfd.h>");
            }
        }
        assertTrue(problems.isEmpty(), problems.size() + " problem(s):\n  " + String.join("\n  ", problems));
    }

    @Test
    void everyLineOfTheCProgramIsAnsweredByAJavaValue() throws Exception {
        TreeSet<String> orphans = new TreeSet<>();
        Map<String, Long> java = javaValues();
        for (String key : fromC.keySet()) {
            String k = key.startsWith("absent ") ? "const " + key.substring(7) : key;
            if (!java.containsKey(k)) {
                orphans.add(key);
            }
        }
        assertTrue(orphans.isEmpty(), SOURCE + " checks values the Java side does not have: " + orphans);
        assertTrue(fromC.size() > 40, "the C program printed only " + fromC.size() + " lines");
    }

    @Test
    void featuresNewerThanTheHeadersAreOfferedExactlyByKernelsThatHaveThem() throws Exception {
        String cause = Userfaultfd.unavailabilityCause();
        assertNull(cause, "this check needs userfaultfd: " + cause);
        String release = Files.readString(Path.of("/proc/sys/kernel/osrelease")).trim();
        String[] v = release.split("[.-]");
        int major = Integer.parseInt(v[0]);
        int minor = Integer.parseInt(v[1]);
        try (Userfaultfd u = Userfaultfd.open(UffdLayout.UFFD_FEATURE_PAGEFAULT_FLAG_WP, 0)) {
            for (Map.Entry<String, int[]> e : NEWER_THAN_HEADERS.entrySet()) {
                long bit = UffdLayout.class.getField(e.getKey()).getLong(null);
                boolean newEnough = major > e.getValue()[0] || major == e.getValue()[0] && minor >= e.getValue()[1];
                assertEquals(newEnough, u.has(bit), e.getKey() + " (0x" + Long.toHexString(bit) + ") on Linux " + release
                        + ": offered " + u.has(bit) + ", kernel features 0x" + Long.toHexString(u.features()));
            }
        }
    }
}
