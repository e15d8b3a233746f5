package dev.stasis.forensics;

import dev.stasis.cli.CliProcess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.StateRecord;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stasis run} writes a forensic snapshot on its own when the guest crashes, and only then. */
@RequiresKvm
class CrashDumpTest {
    @TempDir
    Path dir;

    @Test
    void aTripleFaultLeavesAVerifiedSnapshotOfTheCrash() throws Exception {
        CliProcess p = CliProcess.runIn(dir, List.of(), "run", "triple", "--crash-dump", "crash.snap");
        assertEquals(125, p.status(), p.err());
        Path dump = dir.resolve("crash.snap");
        assertTrue(p.err().contains("forensic snapshot written to " + dump.toAbsolutePath()), p.err());
        assertTrue(p.err().contains("triple fault"), p.err());
        assertEquals(List.of(), SnapshotReader.verify(dump));
        try (SnapshotReader r = SnapshotReader.open(dump)) {
            StateRecord vcpu = r.record("vcpu", 0);
            // The guest loaded an empty IDT and executed ud2 at triple_fault_rip: the state at the crash.
            assertEquals(0, vcpu.getStruct("sregs").getStruct("idt").getLong("limit"));
            assertEquals(GuestSymbols.address(Guests.elfFile("triple"), "triple_fault_rip"), vcpu.getStruct("regs").getLong("rip"));
        }
    }

    @Test
    void aGuestPanicOnThePvpanicPortIsDumpedToTheDefaultPath() throws Exception {
        CliProcess p = CliProcess.runIn(dir, List.of(), "run", "panic");
        assertEquals(125, p.status(), p.err());
        assertTrue(p.out().contains("panic reporting"), p.out());
        assertTrue(p.err().contains("guest reported a panic"), p.err());
        List<Path> dumps = crashFiles();
        assertEquals(1, dumps.size(), dumps.toString());
        assertTrue(dumps.get(0).getFileName().toString().matches("stasis-crash-\\d{8}-\\d{6}-\\d+\\.snap"), dumps.toString());
        assertEquals(List.of(), SnapshotReader.verify(dumps.get(0)));
        try (SnapshotImage image = SnapshotImage.open(dumps.get(0))) {
            StateRecord regs = image.vcpu(0).getStruct("regs");
            assertEquals(0xdeadbeefcafef00dL, regs.getLong("r12"));
            assertEquals(GuestSymbols.address(Guests.elfFile("panic"), "panic_rip"), regs.getLong("rip"));
            assertArrayEquals("STASIS!\n".getBytes(StandardCharsets.US_ASCII), image.memory(n -> { }).read(0x200000, 8));
        }
    }

    @Test
    void noDumpWhenDisabledOrWhenTheGuestExitsNormally() throws Exception {
        CliProcess p = CliProcess.runIn(dir, List.of(), "run", "triple", "--no-crash-dump");
        assertEquals(125, p.status(), p.err());
        assertTrue(!p.err().contains("forensic snapshot"), p.err());
        CliProcess hello = CliProcess.runIn(dir, List.of(), "run", "hello");
        assertEquals(0, hello.status(), hello.err());
        assertEquals(List.of(), crashFiles());
        CliProcess both = CliProcess.runIn(dir, List.of(), "run", "triple", "--no-crash-dump", "--crash-dump", "x.snap");
        assertEquals(2, both.status());
        assertEquals("stasis: error: --crash-dump and --no-crash-dump exclude each other", both.err().strip());
    }

    private List<Path> crashFiles() throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().startsWith("stasis-crash-")).toList();
        }
    }
}
