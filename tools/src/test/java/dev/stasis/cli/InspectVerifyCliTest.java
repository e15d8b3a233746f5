package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code stasis inspect} and {@code stasis verify} on a real 2-vCPU snapshot, as a user runs them. */
@RequiresKvm
class InspectVerifyCliTest {
    @TempDir
    Path dir;
    Path file;

    @BeforeEach
    void snapshot() throws Exception {
        file = dir.resolve("ticker.stasis");
        try (Machine m = Machine.create(VmConfig.of(32 << 20, 2), OutputStream.nullOutputStream())) {
            m.boot(new BootSource.Flat(Guests.flatImage("ticker"), Guests.defaults("ticker")));
            Checkpoint.save(m, file, WriterOptions.defaults());
        }
    }

    @Test
    void inspectPrintsEverySectionAndFieldByName() throws Exception {
        CliProcess p = CliProcess.run(List.of(), "inspect", file.toString());
        assertEquals(0, p.status(), p.err());
        for (String name : List.of("vm#0", "clock#0", "irqchip#2", "pit#0", "vcpu#0", "vcpu#1", "lapic#1", "uart#0", "i8042#0", "rtc#0",
                "rip", "cr3", "timer_initial_count", "rx_fifo", "msrs", "kvmclock_ns", "epoch_seconds")) {
            assertTrue(p.out().contains(name), "inspect shows " + name + ":\n" + p.out());
        }
    }

    @Test
    void inspectJsonIsJsonWithTheSameSections() throws Exception {
        CliProcess p = CliProcess.run(List.of(), "inspect", file.toString(), "--json");
        assertEquals(0, p.status(), p.err());
        JsonNode root = new ObjectMapper().readTree(p.out());
        String text = root.toString();
        for (String name : List.of("\"vcpu\"", "\"lapic\"", "\"uart\"", "\"rip\"", "\"timer_initial_count\"")) {
            assertTrue(text.contains(name), "JSON holds " + name);
        }
    }

    @Test
    void verifySaysOkAndNamesWhatIsWrongInACorruptedCopy() throws Exception {
        CliProcess ok = CliProcess.run(List.of(), "verify", file.toString());
        assertEquals(0, ok.status(), ok.err());
        assertTrue(ok.out().strip().endsWith("ok"), ok.out());
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length / 2] ^= 0x10;
        Path bad = dir.resolve("bad.stasis");
        Files.write(bad, bytes);
        CliProcess broken = CliProcess.run(List.of(), "verify", bad.toString());
        assertNotEquals(0, broken.status());
        assertTrue((broken.out() + broken.err()).toLowerCase().contains("checksum"), broken.out() + broken.err());
        CliProcess restore = CliProcess.run(List.of(), "restore", bad.toString());
        assertNotEquals(0, restore.status());
        assertTrue(restore.err().startsWith("stasis: error: "), restore.err());
        assertEquals(1, restore.err().strip().lines().count(), restore.err());
    }
}
