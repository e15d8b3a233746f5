package dev.stasis.machine;

import dev.stasis.devices.uart.Uart16550;
import java.io.IOException;
import java.io.InputStream;
import java.util.function.BooleanSupplier;

/**
 * Copies host input into the UART's receive FIFO, waiting while the guest has not drained it, and while the
 * VM is paused (a snapshot or migration is reading device state).
 */
final class ConsoleInput implements Runnable {
    private final InputStream in;
    private final Uart16550 uart;
    private final BooleanSupplier stopped;
    /** True while the VM is (being) paused: its state is being read, so the UART must not change under it. */
    private final BooleanSupplier held;

    private ConsoleInput(InputStream in, Uart16550 uart, BooleanSupplier stopped, BooleanSupplier held) {
        this.in = in;
        this.uart = uart;
        this.stopped = stopped;
        this.held = held;
    }

    static ConsoleInput start(InputStream in, Uart16550 uart, BooleanSupplier stopped, BooleanSupplier held) {
        ConsoleInput c = new ConsoleInput(in, uart, stopped, held);
        Thread t = new Thread(c, "console-input");
        t.setDaemon(true);
        t.start();
        return c;
    }

    @Override
    public void run() {
        byte[] buffer = new byte[256];
        try {
            int n;
            while (!stopped.getAsBoolean() && (n = in.read(buffer)) > 0) {
                int offset = 0;
                while (offset < n && !stopped.getAsBoolean()) {
                    // Offer only what fits: more would be dropped as an overrun. Only this thread fills the FIFO.
                    int room = held.getAsBoolean() ? 0 : Math.min(uart.rxFree(), n - offset);
                    if (room == 0) {
                        Thread.sleep(1);
                        continue;
                    }
                    offset += uart.receive(buffer, offset, room);
                }
            }
        } catch (IOException | InterruptedException e) {
            // Console closed or VM ended: nothing more to feed.
        }
    }
}
