package dev.stasis.vm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.devices.PioDevice;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.loader.FlatLoader;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Runs tiny hand-assembled long-mode guests through the whole platform: loader, vCPU thread, buses, stop. */
@RequiresKvm
class VmRunTest {
    /** mov $0x3f8,%dx; mov $'H',%al; out; mov $'i',%al; out; mov $0xf4,%dx; mov $42,%eax; out %eax; hlt; jmp hlt */
    static final byte[] HI_THEN_EXIT_42 = bytes(
            0x66, 0xba, 0xf8, 0x03, 0xb0, 'H', 0xee, 0xb0, 'i', 0xee,
            0x66, 0xba, 0xf4, 0x00, 0xb8, 42, 0, 0, 0, 0xef, 0xf4, 0xeb, 0xfd);

    /** Writes its vCPU index (RDI) to port 0xf0, then spins forever: pause; jmp. */
    static final byte[] REPORT_ID_THEN_SPIN = bytes(0x89, 0xf8, 0x66, 0xba, 0xf0, 0x00, 0xef, 0xf3, 0x90, 0xeb, 0xfc);

    static final byte[] TRIPLE_FAULT = bytes(
            0x6a, 0x00, 0x6a, 0x00, // push $0; push $0: a zero IDTR on the stack
            0x0f, 0x01, 0x1c, 0x24, // lidt (%rsp)
            0x0f, 0x0b);            // ud2 with no IDT: #UD -> #DF -> triple fault

    @Test
    void guestWritesToPortsAndExitsWithItsStatus() throws Exception {
        try (Vm vm = Vm.create(VmConfig.of(16 << 20, 1))) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            vm.pio().attach(0x3f8, 1, device(value -> out.write(value)), "test uart");
            vm.pio().attach(0xf4, 1, device(value -> vm.stop(VmExit.guestExit(value))), "exit port");
            vm.boot(FlatLoader.load(vm.memory(), HI_THEN_EXIT_42));
            vm.start();
            VmExit exit = vm.awaitExit(10_000);
            assertNotNull(exit, "the guest did not exit within 10 s");
            assertEquals(VmExit.Kind.GUEST_EXIT, exit.kind(), exit.description());
            assertEquals(42, exit.status());
            assertEquals("Hi", out.toString());
        }
    }

    @Test
    void everyVcpuStartsAtTheFlatEntryWithItsIndexAndCanBePausedAndResumed() throws Exception {
        try (Vm vm = Vm.create(VmConfig.of(16 << 20, 2))) {
            AtomicInteger seen = new AtomicInteger();
            vm.pio().attach(0xf0, 1, device(id -> seen.accumulateAndGet(1 << id, (a, b) -> a | b)), "id port");
            vm.boot(FlatLoader.load(vm.memory(), REPORT_ID_THEN_SPIN));
            vm.start();
            long deadline = System.currentTimeMillis() + 10_000;
            while (seen.get() != 0b11 && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            assertEquals(0b11, seen.get(), "both vCPUs should report their index");
            for (int i = 0; i < 20; i++) {
                vm.pauseAll();
                assertTrue(vm.runControl().isPaused());
                long rip0 = vm.vcpus().get(0).fd().getRegs().rip();
                assertTrue(rip0 >= FlatLoader.LOAD_ADDRESS && rip0 < FlatLoader.LOAD_ADDRESS + REPORT_ID_THEN_SPIN.length,
                        "paused vCPU 0 is inside the guest's loop: rip=0x" + Long.toHexString(rip0));
                vm.resumeAll();
            }
            assertNull(vm.awaitExit(100), "the spinning guest keeps running");
        }
    }

    @Test
    void tripleFaultStopsTheGuestWithARegisterReport() throws Exception {
        try (Vm vm = Vm.create(VmConfig.of(16 << 20, 1))) {
            vm.boot(FlatLoader.load(vm.memory(), TRIPLE_FAULT));
            vm.start();
            VmExit exit = vm.awaitExit(10_000);
            assertNotNull(exit, "no stop within 10 s");
            assertEquals(VmExit.Kind.GUEST_FAILURE, exit.kind(), exit.description());
            assertTrue(exit.description().contains("triple fault"), exit.description());
            assertTrue(exit.report().contains("rip="), exit.report());
        }
    }

    interface PortWrite {
        void accept(int value) throws Exception;
    }

    static PioDevice device(PortWrite onWrite) {
        return new PioDevice() {
            @Override
            public int read(int offset, int size) {
                return 0;
            }

            @Override
            public void write(int offset, int size, int value) {
                try {
                    onWrite.accept(value);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        };
    }

    static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }
}
