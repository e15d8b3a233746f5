package dev.stasis.kvm.testing;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A C program from the test resources, compiled with gcc against this machine's headers and run, its lines
 * ({@code "<key> <value>"}, values decimal or {@code 0x} hex) read into a map: how the layout tests learn
 * what the headers say about every number a binding hard-codes.
 */
public final class HeaderProgram {
    private HeaderProgram() {}

    /** Compiles resource {@code source} of {@code owner}'s package into target/{@code dir} and runs it. */
    public static Map<String, Long> run(Class<?> owner, String source, String dir) throws IOException, InterruptedException {
        Path work = Files.createDirectories(Path.of("target", dir));
        Path file = work.resolve(source);
        try (InputStream in = owner.getResourceAsStream(source)) {
            assertNotNull(in, source + " is missing from the test resources");
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        }
        Path binary = work.resolve(source.replace(".c", ""));
        exec(work, List.of("gcc", "-Wall", "-Werror", "-O0", "-o", binary.toAbsolutePath().toString(), file.toAbsolutePath().toString()));
        return parse(exec(work, List.of(binary.toAbsolutePath().toString())));
    }

    /** Java values that the C program does not print ("unchecked") or prints otherwise ("mismatch"). */
    public static List<String> problems(Map<String, Long> java, Map<String, Long> fromC, String source, String header) {
        List<String> problems = new java.util.ArrayList<>();
        for (Map.Entry<String, Long> e : java.entrySet()) {
            Long c = fromC.get(e.getKey());
            if (c == null) {
                problems.add("unchecked: " + e.getKey() + " (Java " + e.getValue() + ") is not printed by " + source);
            } else if (!c.equals(e.getValue())) {
                problems.add(String.format("mismatch: %s is %s in Java but %s in %s", e.getKey(), show(e.getKey(), e.getValue()), show(e.getKey(), c), header));
            }
        }
        return problems;
    }

    /** Lines of the C program no Java value answers: the program checks something the bindings do not have. */
    public static java.util.SortedSet<String> orphans(Map<String, Long> java, Map<String, Long> fromC) {
        java.util.TreeSet<String> orphans = new java.util.TreeSet<>(fromC.keySet());
        orphans.removeAll(java.keySet());
        return orphans;
    }

    private static String show(String key, long v) {
        return key.startsWith("ioctl ") ? "0x" + Long.toHexString(v) : Long.toString(v);
    }

    private static String exec(Path dir, List<String> command) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("the layout tests need gcc and the Linux headers: install them "
                    + "(Debian/Ubuntu: apt-get install gcc linux-libc-dev; CI installs them). Cause: " + e.getMessage(), e);
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " did not finish");
        if (p.exitValue() != 0) {
            throw new AssertionError(String.join(" ", command) + " failed with status " + p.exitValue() + ":\n" + output);
        }
        return output;
    }

    /** "sizeof kvm_regs 144" becomes "sizeof kvm_regs" → 144. */
    private static Map<String, Long> parse(String output) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (String line : output.split("\n")) {
            if (line.isBlank()) {
                continue;
            }
            int space = line.lastIndexOf(' ');
            String key = line.substring(0, space);
            String value = line.substring(space + 1);
            long v = value.startsWith("0x") ? Long.parseUnsignedLong(value.substring(2), 16) : Long.parseLong(value);
            assertNull(m.put(key, v), "the C program prints " + key + " twice");
        }
        return m;
    }
}
