package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.fixtures.GuestLines;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stasis run KERNEL} with a Multiboot kernel, as a user runs one: recognized, booted with its modules, or refused in one line. */
@RequiresKvm
class MultibootCliTest {
    @TempDir
    Path dir;

    @Test
    void aMultibootKernelIsRecognizedAndGetsItsCommandLineAndModules() throws Exception {
        Path kernel = Files.write(dir.resolve("kernel.elf"), Guests.multibootKernel(1));
        Path module = Files.writeString(dir.resolve("mod.txt"), "ABCDEFGH-rest");
        try (LiveCli run = LiveCli.start("run", kernel.toString(), "--cmdline", "quiet", "--module", module + ",the module")) {
            var info = run.await(GuestLines.MB_INFO, m -> true, 0, Duration.ofSeconds(20));
            assertNotNull(info, run.output());
            assertEquals(kernel + " quiet", info.group(3), "the kernel file name, then --cmdline, as QEMU and GRUB give it");
            var mod = run.await(GuestLines.MB_MODULE, m -> true, 0, Duration.ofSeconds(5));
            assertNotNull(mod, run.output());
            assertEquals("the module", mod.group(1));
            assertEquals("0x4847464544434241", mod.group(3), "its first 8 bytes, ABCDEFGH");
        }
    }

    @Test
    void badKernelsAndOptionsAreRefusedInOneLineWithExitTwo() throws Exception {
        byte[] k = Guests.multibootKernel(1);
        ByteBuffer b = ByteBuffer.wrap(k).order(ByteOrder.LITTLE_ENDIAN);
        int header = -1;
        for (int at = 0; at < 8192; at += 4) {
            if (b.getInt(at) == 0x1BADB002) {
                header = at;
                break;
            }
        }
        assertTrue(header > 0, "the test kernel has its header in the first 8 KiB");
        b.putInt(header + 8, b.getInt(header + 8) + 1);
        Path badSum = Files.write(dir.resolve("bad.elf"), k);
        Path good = Files.write(dir.resolve("good.elf"), Guests.multibootKernel(2));
        Path big = Files.write(dir.resolve("big.img"), new byte[2 << 20]);
        record Case(List<String> args, String says) {}
        for (Case c : List.of(
                new Case(List.of(badSum.toString()), "checksum"),
                new Case(List.of(good.toString(), "--module", dir.resolve("none").toString()), "--module: "),
                new Case(List.of("hello", "--module", good.toString()), "--module applies only to Multiboot kernels"),
                new Case(List.of(good.toString(), "--mem", "2M", "--module", big.toString()), "module 1 (2097152 bytes"))) {
            List<String> args = new java.util.ArrayList<>(List.of("run"));
            args.addAll(c.args());
            CliProcess p = CliProcess.run(List.of(), args.toArray(String[]::new));
            assertEquals(2, p.status(), c + ": " + p.err() + p.out());
            assertTrue(p.err().startsWith("stasis: error: ") && p.err().contains(c.says()), c.says() + " in: " + p.err());
            assertEquals(1, p.err().lines().count(), p.err());
        }
    }
}
