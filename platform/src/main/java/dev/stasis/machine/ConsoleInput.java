package dev.stasis.machine;

import dev.stasis.devices.uart.Uart16550;
import java.io.IOException;
import java.io.InputStream;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BooleanSupplier;

/**
 * Copies host input into a UART's receive FIFO, waiting while the guest has not drained it, and while the
 * VM is paused (a snapshot or migration is reading device state). One reader per input stream for the whole
 * process, retargeted to each machine that attaches: after a guest reset the new machine gets the bytes the
 * old one's reader had already taken from the terminal, instead of their being lost.
 */
final class ConsoleInput implements Runnable {
    /** Where input goes now: a running machine's UART. */
    private record Target(Uart16550 uart, BooleanSupplier stopped, BooleanSupplier held) {}

    private static final Map<InputStream, ConsoleInput> READERS = new ConcurrentHashMap<>();

    private final InputStream in;
    private volatile Target target;

    private ConsoleInput(InputStream in) {
        this.in = in;
    }

    /**
     * Feeds {@code in} to {@code uart} from now on. {@code stopped}: the machine has ended (input waits for the
     * next one); {@code held}: it is paused, so its UART must not change.
     */
    static void attach(InputStream in, Uart16550 uart, BooleanSupplier stopped, BooleanSupplier held) {
        ConsoleInput reader = READERS.computeIfAbsent(in, stream -> {
            ConsoleInput c = new ConsoleInput(stream);
            Thread t = new Thread(c, "console-input");
            t.setDaemon(true);
            t.start();
            return c;
        });
        reader.target = new Target(uart, stopped, held);
    }

    @Override
    public void run() {
        byte[] buffer = new byte[256];
        try {
            int n;
            while ((n = in.read(buffer)) > 0) {
                int offset = 0;
                while (offset < n) {
                    Target t = target;
                    // Offer only what fits: more would be dropped as an overrun. Only this thread fills a FIFO.
                    int room = t == null || t.stopped().getAsBoolean() || t.held().getAsBoolean() ? 0
                            : Math.min(t.uart().rxFree(), n - offset);
                    if (room == 0) {
                        Thread.sleep(1);
                        continue;
                    }
                    offset += t.uart().receive(buffer, offset, room);
                }
            }
        } catch (IOException | InterruptedException e) {
            // The console closed: nothing more to feed.
        } finally {
            READERS.remove(in, this); // a closed stream (a test clone's) is not kept for the life of the process
        }
    }
}
