package dev.stasis.machine;

import dev.stasis.devices.debugexit.ExitPort;
import dev.stasis.devices.i8042.I8042;
import dev.stasis.devices.rtc.CmosRtc;
import dev.stasis.devices.uart.Uart16550;
import dev.stasis.loader.InvalidImageException;
import dev.stasis.memory.GuestMemory;
import dev.stasis.memory.MemoryRange;
import dev.stasis.vm.Vm;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A small PC: a {@link Vm} with KVM's in-kernel irqchip and PIT, a 16550A on COM1 (IRQ 4), an i8042
 * for reset, a CMOS RTC and the test exit port. The console is the UART.
 */
public final class Machine implements AutoCloseable {
    public static final int COM1_PORT = 0x3f8;
    public static final int COM1_IRQ = 4;
    public static final int RTC_PORT = 0x70;

    private final Vm vm;
    private final Uart16550 uart;
    private final I8042 i8042;
    private final CmosRtc rtc;
    private final ExitPort exitPort;
    private ConsoleInput consoleInput;

    private Machine(Vm vm, OutputStream console) {
        this.vm = vm;
        this.uart = new Uart16550(vm.irqLine(COM1_IRQ), console);
        this.i8042 = new I8042(() -> vm.stop(new VmExit(VmExit.Kind.RESET, 0, "guest requested a reset through the i8042", "")));
        this.rtc = new CmosRtc();
        this.exitPort = new ExitPort(status -> vm.stop(VmExit.guestExit(status)));
        vm.pio().attach(COM1_PORT, 8, uart, "uart");
        vm.pio().attach(I8042.BASE, I8042.PORT_COUNT, i8042, "i8042");
        vm.pio().attach(RTC_PORT, 2, rtc, "rtc");
        vm.pio().attach(ExitPort.EXIT_PORT, ExitPort.PORT_COUNT, exitPort, "exit port");
        CmosMemorySize.write(rtc, vm.memory().layout());
    }

    /** Builds the VM and its devices; UART output goes to {@code console}. */
    public static Machine create(VmConfig config, OutputStream console) {
        Vm vm = Vm.create(config);
        try {
            return new Machine(vm, console);
        } catch (RuntimeException e) {
            vm.close();
            throw e;
        }
    }

    public Vm vm() { return vm; }
    public Uart16550 uart() { return uart; }
    public I8042 i8042() { return i8042; }
    public CmosRtc rtc() { return rtc; }
    public GuestMemory memory() { return vm.memory(); }

    /** Places the guest in memory and points the boot vCPU(s) at its entry. */
    public void boot(BootSource source) {
        vm.boot(source.place(vm));
    }

    /** Copies {@code file} into guest RAM at {@code gpa} (QEMU's generic loader), in 64 MiB steps. */
    public void loadFile(Path file, long gpa) throws IOException {
        long size = Files.size(file);
        MemoryRange range = vm.memory().layout().find(gpa, size);
        if (range == null) {
            throw new InvalidImageException(String.format("%s (%d bytes) does not fit in guest RAM at 0x%x", file, size, gpa));
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] chunk = new byte[(int) Math.min(size, 64 << 20)];
            long at = gpa;
            int n;
            while ((n = in.readNBytes(chunk, 0, chunk.length)) > 0) {
                vm.memory().write(at, chunk, 0, n);
                at += n;
            }
        }
    }

    /** Feeds {@code in} to the UART's receiver on a daemon thread, holding back while its FIFO is full. */
    public synchronized void attachConsoleInput(InputStream in) {
        if (consoleInput == null) {
            consoleInput = ConsoleInput.start(in, uart, vm::isStopped);
        }
    }

    public void start() {
        vm.start();
    }

    public VmExit awaitExit() throws InterruptedException {
        return vm.awaitExit();
    }

    @Override
    public void close() {
        vm.close();
    }
}
