package dev.stasis.uffd;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.HeaderProgram;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every userfaultfd number the bindings hard-code ({@link UffdLayout}'s constants, sizes and offsets, and
 * {@link UffdIoctl}), checked against this machine's {@code <linux/userfaultfd.h>} by a C program compiled at
 * test time; both ways, so neither side can grow alone.
 */
class UffdLayoutTest {
    private static final String SOURCE = "uffd_layout.c";
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
        List<String> problems = HeaderProgram.problems(javaValues(), fromC, SOURCE, "<linux/userfaultfd.h>");
        assertTrue(problems.isEmpty(), problems.size() + " problem(s):\n  " + String.join("\n  ", problems));
    }

    @Test
    void everyLineOfTheCProgramIsAnsweredByAJavaValue() throws Exception {
        assertTrue(HeaderProgram.orphans(javaValues(), fromC).isEmpty(), SOURCE + " checks values the Java side does not have: " + HeaderProgram.orphans(javaValues(), fromC));
        assertTrue(fromC.size() > 40, "the C program printed only " + fromC.size() + " lines");
    }
}
