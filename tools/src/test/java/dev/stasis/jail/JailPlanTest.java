package dev.stasis.jail;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a jail holds, decided without root or KVM: the steps {@link JailPlan} makes and the inputs it refuses. */
class JailPlanTest {
    @TempDir
    Path dir;

    private static final Path JAVA_HOME = Path.of(System.getProperty("java.home"));

    private JailPlan plan(List<String> inputs) throws Exception {
        return JailPlan.of(65534, 65534, JAVA_HOME.toRealPath(), List.of(), inputs);
    }

    @Test
    void aPathTheUserWroteLeadsWhereItWouldFromTheJailsRoot() {
        assertEquals(Path.of("/srv/guest.elf"), JailPlan.jailPath("/srv/guest.elf"));
        assertEquals(Path.of("/images/guest.elf"), JailPlan.jailPath("images/guest.elf"));
        assertEquals(Path.of("/etc/x"), JailPlan.jailPath("../../etc/x"), "'..' stops at the root, as the kernel's lookup does");
        assertEquals(Path.of("/a/b"), JailPlan.jailPath("./a//c/../b"));
    }

    @Test
    void theJailHoldsTheSystemTheJvmItsProcDevAndTmpAndEveryInputReadOnly() throws Exception {
        Path guest = Files.writeString(dir.resolve("guest.elf"), "x");
        JailPlan plan = plan(List.of(guest.toString(), "hello"));
        List<JailStep> steps = plan.steps();
        assertTrue(steps.stream().anyMatch(s -> s.dst().equals(Path.of("/usr"))), "/usr: " + steps);
        for (String dev : List.of("null", "zero", "random", "urandom", "kvm")) {
            assertTrue(steps.stream().anyMatch(s -> s instanceof JailStep.Device d && d.dst().equals(Path.of("/dev", dev))), dev + ": " + steps);
        }
        JailStep.Device kvm = (JailStep.Device) steps.stream().filter(s -> s.dst().equals(Path.of("/dev/kvm"))).findFirst().orElseThrow();
        assertEquals("0600", kvm.mode());
        assertEquals("65534:65534", kvm.owner(), "the VM's own node, not the host's (which a bind would chown)");
        JailStep.Device nul = (JailStep.Device) steps.stream().filter(s -> s.dst().equals(Path.of("/dev/null"))).findFirst().orElseThrow();
        assertEquals(List.of(1L, 3L), List.of(nul.major(), nul.minor()), "/dev/null is 1:3 on Linux");
        assertTrue(steps.contains(new JailStep.Proc(Path.of("/proc"))));
        assertTrue(steps.stream().anyMatch(s -> s instanceof JailStep.Tmpfs t && t.dst().equals(Path.of("/tmp")) && t.options().contains("uid=65534")));
        int tmp = indexOf(steps, Path.of("/tmp"));
        int input = indexOf(steps, guest.toAbsolutePath());
        assertTrue(input > tmp, "an input under /tmp is bound into the jail's tmpfs, so after it: " + steps);
        Path real = guest.toRealPath();
        assertEquals(new JailStep.Bind(real, guest.toAbsolutePath()), steps.get(input));
        assertEquals(1, steps.stream().filter(s -> s instanceof JailStep.Bind b && b.src().equals(real)).count());
        assertFalse(steps.stream().anyMatch(s -> s.dst().startsWith(Path.of("/etc")) && !s.dst().toString().contains("java")),
                "only the JDK's part of /etc: " + steps);
    }

    @Test
    void aClassPathUnderTmpIsBoundAfterTheJailsTmpIsMountedNotHiddenByIt() throws Exception {
        Path jar = Files.writeString(dir.resolve("lib.jar"), "x");
        List<JailStep> steps = JailPlan.of(65534, 65534, JAVA_HOME.toRealPath(), List.of(new JailStep.Bind(jar.toRealPath(), jar.toAbsolutePath())),
                List.of()).steps();
        assertTrue(indexOf(steps, jar.toAbsolutePath()) > indexOf(steps, Path.of("/tmp")), steps.toString());
    }

    @Test
    void theSameFileNamedTwiceIsBoundOnceAndOneUnderTheSystemIsAlreadyThere() throws Exception {
        Path guest = Files.writeString(dir.resolve("guest.elf"), "x");
        String javaBinary = JAVA_HOME.toRealPath().resolve("bin/java").toString();
        JailPlan plan = plan(List.of(guest.toString(), guest.toString(), javaBinary));
        Path real = guest.toRealPath();
        assertEquals(1, plan.steps().stream().filter(s -> s instanceof JailStep.Bind b && b.src().equals(real)).count());
        assertFalse(plan.steps().stream().anyMatch(s -> s.dst().toString().equals(javaBinary)), "visible through the JDK's bind");
    }

    @Test
    void anInputThatWouldLandOnTheJailsOwnFilesIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> plan(List.of("/proc/self/status")));
        assertEquals("/proc/self/status: in the jail it would be /proc/self/status, which is the jail's own /proc; "
                + "name it by another path (an absolute one, or copy it)", e.getMessage(), "the jail's /proc is not the host's");
    }

    @Test
    void theDirectoriesTheJdksAbsoluteLinksPointIntoAreFoundAndOnlyTheSmallestSet() throws Exception {
        Path home = Files.createDirectories(dir.resolve("jdk/conf/security"));
        Path etc = Files.createDirectories(dir.resolve("etc/java/security"));
        Files.writeString(etc.resolve("java.security"), "x");
        Files.writeString(etc.getParent().resolve("jvm.cfg"), "x");
        Files.createSymbolicLink(home.resolve("java.security"), etc.resolve("java.security"));
        Files.createSymbolicLink(home.getParent().resolve("jvm.cfg"), etc.getParent().resolve("jvm.cfg"));
        Files.createSymbolicLink(home.resolve("dangling"), dir.resolve("nowhere/x"));
        Files.createSymbolicLink(home.resolve("relative"), Path.of("../jvm.cfg"));
        List<Path> dirs = JailPlan.linkedDirectories(dir.resolve("jdk").toRealPath());
        assertEquals(List.of(etc.getParent().toRealPath()), dirs);
    }

    @Test
    void everyStepSaysItsWordsForTheScript() throws Exception {
        Path guest = Files.writeString(dir.resolve("guest.elf"), "x");
        String words = plan(List.of(guest.toString())).steps().stream().map(s -> String.join(" ", s.words())).collect(Collectors.joining("\n"));
        assertTrue(words.contains("bind " + guest.toRealPath() + " " + guest.toAbsolutePath()), words);
        assertTrue(words.contains("proc /proc"), words);
        assertTrue(words.matches("(?s).*device /dev/kvm \\d+ \\d+ 0600 65534:65534.*"), words);
    }

    private static int indexOf(List<JailStep> steps, Path dst) {
        for (int i = 0; i < steps.size(); i++) {
            if (steps.get(i).dst().equals(dst)) {
                return i;
            }
        }
        throw new AssertionError(dst + " is not in " + steps);
    }
}
