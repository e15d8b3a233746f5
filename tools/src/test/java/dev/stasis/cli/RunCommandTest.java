package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stasis run} as a user meets it: the guest's output and status, and one-line errors. */
class RunCommandTest {
    @TempDir
    Path dir;

    @Test
    @RequiresKvm
    void helloPrintsItsGreetingAndExitsZero() throws Exception {
        CliProcess p = CliProcess.run(List.of(), "run", "hello");
        assertEquals(0, p.status(), p.err());
        assertTrue(p.out().contains("hello from stasis guest"), p.out());
    }

    @Test
    @RequiresKvm
    void theGuestsExitStatusBecomesTheProcessStatus() throws Exception {
        // 100000 pages from 16 MiB do not fit 128 MiB: dirtier refuses its parameters with status 2.
        CliProcess p = CliProcess.run(List.of(), "run", "dirtier", "pages=100000", "--mem", "128M");
        assertEquals(2, p.status(), p.out() + p.err());
        assertTrue(p.out().contains("dirtier FAIL bad-params"), p.out());
    }

    @Test
    @RequiresKvm
    void aGuestResetBootsTheImageAgainInAFreshVm() throws Exception {
        // Prints "boot", then pulses the reset line through the i8042 (command 0xfe to port 0x64).
        Path image = dir.resolve("reset.bin");
        Files.write(image, bytes(0x66, 0xba, 0xf8, 0x03, // mov $0x3f8,%dx
                0xb0, 'b', 0xee, 0xb0, 'o', 0xee, 0xb0, 'o', 0xee, 0xb0, 't', 0xee, 0xb0, '\n', 0xee,
                0xb0, 0xfe, 0xe6, 0x64, // mov $0xfe,%al; out %al,$0x64
                0xf4, 0xeb, 0xfd)); // hlt; jmp hlt
        try (LiveCli run = LiveCli.start("run", image.toString())) {
            java.util.regex.Pattern boot = java.util.regex.Pattern.compile("boot");
            for (int n = 0; n < 3; n++) {
                int from = run.lines().size();
                assertNotNull(run.await(boot, m -> true, from, java.time.Duration.ofSeconds(20)), "boot " + (n + 1) + ":\n" + run.output());
            }
            assertTrue(run.isAlive(), "a reset is a reboot, not an exit:\n" + run.output());
        }
    }

    static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }

    @Test
    void aMissingKvmDeviceIsOneClearLine() throws Exception {
        CliProcess p = CliProcess.run(List.of("-Dstasis.kvm.device=/nonexistent/kvm"), "run", "hello");
        assertOneLineError(p, "/nonexistent/kvm: ENOENT");
        assertTrue(p.err().contains("KVM is not available"), p.err());
    }

    @Test
    void badMemoryLayoutsAreOneClearLineEach() throws Exception {
        assertOneLineError(CliProcess.run(List.of(), "run", "hello", "--mem", "1000"), "not a positive multiple of 4096");
        assertOneLineError(CliProcess.run(List.of(), "run", "hello", "--mem", "2T"), "exceeds the maximum guest address");
        assertOneLineError(CliProcess.run(List.of(), "run", "hello", "--mem", "lots"), "'lots' is not a size");
        assertOneLineError(CliProcess.run(List.of(), "run", "hello", "--cpus", "0"), "vCPU count must be 1..");
    }

    @Test
    void aFileThatIsNotAGuestImageIsOneClearLine() throws Exception {
        Path notes = dir.resolve("notes.txt");
        Files.writeString(notes, "just some text\n");
        assertOneLineError(CliProcess.run(List.of(), "run", notes.toString()), "is not a guest image");
        Path badElf = dir.resolve("bad.elf");
        Files.write(badElf, new byte[] {0x7f, 'E', 'L', 'F', 1, 1, 1, 0});
        assertOneLineError(CliProcess.run(List.of(), "run", badElf.toString()), "ELF");
        assertOneLineError(CliProcess.run(List.of(), "run", dir.resolve("absent.bin").toString()), "no such file");
    }

    @Test
    void unknownGuestParametersListTheValidOnes() throws Exception {
        assertOneLineError(CliProcess.run(List.of(), "run", "ticker", "speed=9"), "valid keys: mode");
    }

    private static void assertOneLineError(CliProcess p, String expected) {
        assertNotEquals(0, p.status(), "should fail: " + p.err());
        String err = p.err().strip();
        assertTrue(err.startsWith("stasis: error: "), "error line: " + err);
        assertTrue(err.contains(expected), "expected '" + expected + "' in: " + err);
        List<String> lines = err.lines().filter(l -> !l.startsWith("(see ")).toList();
        assertEquals(1, lines.size(), "one line, no stack trace: " + err);
        assertFalse(err.contains("\tat "), err);
    }
}
