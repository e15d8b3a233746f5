package dev.stasis.loader;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.Machine;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.vm.VmConfig;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The scratch program a migration's destination runs to warm its start path: it really runs, writes, and halts. */
@RequiresKvm
class ScratchProgramTest {
    @Test
    void itWritesItsBytesThenHaltsAndPausesLikeAGuest() throws Exception {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        try (Machine m = Machine.create(new VmConfig(MemoryLayout.ofSize(2 << 20), 1, VmConfig.defaultCpu()), console)) {
            m.vm().boot(ScratchProgram.load(m.memory(), 300));
            assertFalse(ScratchProgram.finished(m.memory()));
            m.start();
            long until = System.nanoTime() + 20_000_000_000L;
            while (!ScratchProgram.finished(m.memory()) && System.nanoTime() < until) {
                Thread.sleep(5);
            }
            assertTrue(ScratchProgram.finished(m.memory()), "the program never set its flag");
            m.vm().pauseAll();
            assertTrue(m.vm().runControl().isPaused(), "a halted vCPU leaves KVM_RUN when kicked");
            assertFalse(m.vm().isStopped(), "halted, not stopped: " + console);
            long until2 = System.nanoTime() + 5_000_000_000L;
            while (console.size() < 300 && System.nanoTime() < until2) {
                Thread.sleep(5);
            }
            assertEquals(".".repeat(300), console.toString(StandardCharsets.US_ASCII));
        }
    }
}
