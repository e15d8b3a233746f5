package dev.stasis.devices.virtio;

import dev.stasis.devices.DmaMemory;
import dev.stasis.devices.MmioDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2.2): the register file a driver negotiates features and
 * sets up queues through, in one 0x200-byte window. Register accesses are 32-bit; the configuration space (0x100 on)
 * may be read 8, 16, 32 or 64 bits wide. A driver that breaks the protocol (a queue made ready before features were
 * negotiated, a ring outside RAM, a chain the device refuses) sets DEVICE_NEEDS_RESET and a configuration-change
 * interrupt, with one line saying why; the VMM and the other devices go on, and a reset brings the device back.
 *
 * <p>Called from vCPU threads (registers) and the device's I/O thread ({@link VirtioDevice.Events}); the registers
 * are guarded by this object, the interrupt bits are atomic so the I/O thread never waits for a vCPU.
 */
public final class VirtioMmio implements MmioDevice {
    public static final int WINDOW = 0x200;
    public static final int MAGIC = 0x74726976; // "virt"
    public static final int VENDOR = 0x73617473; // "stas"
    public static final long F_VERSION_1 = 1L << 32;

    static final int STATUS_ACKNOWLEDGE = 1, STATUS_DRIVER = 2, STATUS_DRIVER_OK = 4, STATUS_FEATURES_OK = 8,
            STATUS_NEEDS_RESET = 0x40, STATUS_FAILED = 0x80;
    static final int INT_USED = 1, INT_CONFIG = 2;

    private final VirtioDevice device;
    private final DmaMemory memory;
    private final Runnable interrupt;
    private final Consumer<String> log;
    private final String name;

    /** The status byte: atomic, because the I/O thread sets DEVICE_NEEDS_RESET without the lock a vCPU may hold while it waits for that thread. */
    private final AtomicInteger status = new AtomicInteger();
    private long driverFeatures;
    private int deviceFeaturesSel;
    private int driverFeaturesSel;
    private int queueSel;
    private final AtomicInteger interruptStatus = new AtomicInteger();
    private final QueueSetup[] setup;
    private List<Virtqueue> active = List.of();
    private boolean warnedEarlyNotify;
    private final AtomicInteger breakagesTold = new AtomicInteger();

    /** What the driver wrote for one queue. */
    private static final class QueueSetup {
        int size;
        boolean ready;
        long desc, avail, used;
        int lastAvail, usedIdx;
    }

    /**
     * @param interrupt raises the transport's interrupt line once (an edge: KVM's irqfd, or a pulse of the line)
     * @param log       takes one line for the user when the driver breaks the device
     */
    public VirtioMmio(String name, VirtioDevice device, DmaMemory memory, Runnable interrupt, Consumer<String> log) {
        this.name = name;
        this.device = device;
        this.memory = memory;
        this.interrupt = interrupt;
        this.log = log;
        this.setup = new QueueSetup[device.queueCount()];
        for (int i = 0; i < setup.length; i++) {
            setup[i] = new QueueSetup();
        }
    }

    /** The address, relative to the window, of the register whose writes notify a queue (for an ioeventfd). */
    public static long queueNotifyOffset() {
        return 0x50;
    }

    @Override
    public synchronized long read(long offset, int size) {
        if (offset >= 0x100) {
            return configRead(offset - 0x100, size);
        }
        if (size != 4) {
            return 0;
        }
        return switch ((int) offset) {
            case 0x000 -> MAGIC;
            case 0x004 -> 2;
            case 0x008 -> device.deviceId();
            case 0x00c -> VENDOR;
            case 0x010 -> Integer.compareUnsigned(deviceFeaturesSel, 1) > 0 ? 0 : (int) (device.features() >>> (32 * deviceFeaturesSel));
            case 0x034 -> selected() != null ? device.maxQueueSize() : 0;
            case 0x044 -> selected() != null && selected().ready ? 1 : 0;
            case 0x060 -> interruptStatus.get();
            case 0x070 -> status.get();
            case 0x0b0, 0x0b4, 0x0b8, 0x0bc -> 0xffffffffL; // no shared memory regions
            case 0x0fc -> 0; // the configuration never changes
            default -> 0;
        };
    }

    private long configRead(long at, int size) {
        byte[] config = device.config();
        long v = 0;
        for (int i = size - 1; i >= 0; i--) {
            long b = at + i < config.length ? config[(int) (at + i)] & 0xff : 0;
            v = (v << 8) | b;
        }
        return v;
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        if (offset >= 0x100 || size != 4) {
            return; // the configuration space is read-only here; other widths are not registers
        }
        int v = (int) value;
        QueueSetup q = selected();
        switch ((int) offset) {
            case 0x014 -> deviceFeaturesSel = v;
            case 0x020 -> {
                if (Integer.compareUnsigned(driverFeaturesSel, 1) <= 0 && (status.get() & STATUS_FEATURES_OK) == 0) {
                    long mask = 0xffffffffL << (32 * driverFeaturesSel);
                    driverFeatures = (driverFeatures & ~mask) | ((Integer.toUnsignedLong(v) << (32 * driverFeaturesSel)) & mask);
                }
            }
            case 0x024 -> driverFeaturesSel = v;
            case 0x030 -> queueSel = v;
            case 0x038 -> { if (q != null && !q.ready) q.size = v; }
            case 0x044 -> queueReady(q, v);
            case 0x050 -> notifyQueue(v);
            case 0x064 -> interruptStatus.getAndUpdate(s -> s & ~v);
            case 0x070 -> status(v & 0xff);
            case 0x080 -> { if (q != null && !q.ready) q.desc = low(q.desc, v); }
            case 0x084 -> { if (q != null && !q.ready) q.desc = high(q.desc, v); }
            case 0x090 -> { if (q != null && !q.ready) q.avail = low(q.avail, v); }
            case 0x094 -> { if (q != null && !q.ready) q.avail = high(q.avail, v); }
            case 0x0a0 -> { if (q != null && !q.ready) q.used = low(q.used, v); }
            case 0x0a4 -> { if (q != null && !q.ready) q.used = high(q.used, v); }
            default -> { }
        }
    }

    /** The queue QueueSel names, or null: the selector is any 32 bits the driver wrote. */
    private QueueSetup selected() {
        return Integer.compareUnsigned(queueSel, setup.length) < 0 ? setup[queueSel] : null;
    }

    private static long low(long old, int v) { return (old & 0xffffffff00000000L) | Integer.toUnsignedLong(v); }

    private static long high(long old, int v) { return (old & 0xffffffffL) | ((long) v << 32); }

    private void queueReady(QueueSetup q, int v) {
        if (q == null) {
            return;
        }
        if (v == 0) {
            q.ready = false;
            return;
        }
        if ((status.get() & STATUS_FEATURES_OK) == 0) {
            broken("queue " + queueSel + " was made ready before the features were negotiated (FEATURES_OK)");
            return;
        }
        String problem = new QueueConfig(q.size, q.desc, q.avail, q.used).problem(device.maxQueueSize(), memory);
        if (problem != null) {
            broken("queue " + queueSel + ": " + problem);
            return;
        }
        q.ready = true;
        q.lastAvail = 0;
        q.usedIdx = 0;
    }

    private void notifyQueue(int queue) {
        int s = status.get();
        if ((s & STATUS_DRIVER_OK) == 0 || (s & STATUS_NEEDS_RESET) != 0) {
            if (!warnedEarlyNotify) {
                warnedEarlyNotify = true;
                log.accept(name + ": queue " + queue + " notified before the driver set DRIVER_OK (or while the device needs a reset); ignored");
            }
            return;
        }
        if (Integer.compareUnsigned(queue, setup.length) < 0) {
            device.notifyQueue(queue);
        }
    }

    private void status(int v) {
        if (v == 0) {
            reset();
            return;
        }
        int adding = v & ~status.get();
        if ((adding & STATUS_FEATURES_OK) != 0) {
            long offered = device.features();
            if ((driverFeatures & ~offered) != 0 || (driverFeatures & F_VERSION_1) == 0) {
                v &= ~STATUS_FEATURES_OK; // the driver reads it back and gives up (virtio 1.2, 3.1.1)
            }
        }
        int written = v & ~STATUS_NEEDS_RESET;
        int now = status.updateAndGet(old -> (old & STATUS_NEEDS_RESET) | written);
        if ((adding & STATUS_DRIVER_OK) != 0 && (now & STATUS_NEEDS_RESET) == 0) {
            if ((now & STATUS_FEATURES_OK) == 0) {
                broken("DRIVER_OK was set before the features were negotiated (FEATURES_OK)");
                return;
            }
            activate();
        }
    }

    private void activate() {
        List<Virtqueue> queues = new ArrayList<>();
        for (QueueSetup q : setup) {
            queues.add(q.ready ? new Virtqueue(new QueueConfig(q.size, q.desc, q.avail, q.used), memory, q.lastAvail, q.usedIdx) : null);
        }
        active = queues;
        device.activate(driverFeatures, queues, new VirtioDevice.Events() {
            @Override
            public void used() {
                interruptStatus.getAndUpdate(s -> s | INT_USED);
                interrupt.run();
            }

            @Override
            public void broken(String why) {
                VirtioMmio.this.broken(why);
            }
        });
    }

    private void reset() {
        device.deactivate();
        active = List.of();
        status.set(0);
        driverFeatures = 0;
        deviceFeaturesSel = 0;
        driverFeaturesSel = 0;
        queueSel = 0;
        interruptStatus.set(0);
        for (int i = 0; i < setup.length; i++) {
            setup[i] = new QueueSetup();
        }
    }

    /** The driver broke the protocol: DEVICE_NEEDS_RESET, a configuration interrupt, one line (virtio 1.2, 2.1.2). */
    private void broken(String why) {
        int old = status.getAndUpdate(s -> s | STATUS_NEEDS_RESET);
        if ((old & STATUS_NEEDS_RESET) != 0) {
            return;
        }
        int told = breakagesTold.incrementAndGet();
        if (told <= 10) {
            log.accept(name + ": " + why + "; the device stops and needs a reset by its driver");
        } else if (told == 11) {
            log.accept(name + ": the driver broke the device again; further breakages are not told (a guest must not flood the log)");
        }
        if ((old & STATUS_DRIVER_OK) != 0) {
            interruptStatus.getAndUpdate(s -> s | INT_CONFIG);
            interrupt.run();
        }
    }

    /** The transport's state; the device must be quiesced (no request in progress). */
    public synchronized VirtioMmioState save() {
        List<VirtioMmioState.QueueState> queues = new ArrayList<>();
        for (int i = 0; i < setup.length; i++) {
            QueueSetup q = setup[i];
            Virtqueue vq = i < active.size() ? active.get(i) : null;
            queues.add(new VirtioMmioState.QueueState(q.size, q.ready, q.desc, q.avail, q.used,
                    vq != null ? vq.lastAvail() : q.lastAvail, vq != null ? vq.usedIdx() : q.usedIdx));
        }
        return new VirtioMmioState(status.get(), driverFeatures, deviceFeaturesSel, driverFeaturesSel, queueSel, interruptStatus.get(), queues);
    }

    /** Checks {@code state} against this transport's device, changing nothing; null if it fits, else why not. */
    public String mismatch(VirtioMmioState state) {
        if (state.queues().size() != setup.length) {
            return "it has " + state.queues().size() + " queues, this device " + setup.length;
        }
        if ((state.driverFeatures() & ~device.features()) != 0) {
            return String.format("its driver accepted features 0x%x this device does not offer (0x%x)", state.driverFeatures(), device.features());
        }
        return null;
    }

    /** Puts {@code state} back (checked with {@link #mismatch}); a running driver's queues resume where they stood. */
    public synchronized void restore(VirtioMmioState state) {
        device.deactivate();
        int restored = state.status();
        driverFeatures = state.driverFeatures();
        deviceFeaturesSel = state.deviceFeaturesSel();
        driverFeaturesSel = state.driverFeaturesSel();
        queueSel = state.queueSel();
        interruptStatus.set(state.interruptStatus());
        for (int i = 0; i < setup.length; i++) {
            VirtioMmioState.QueueState s = state.queues().get(i);
            QueueSetup q = new QueueSetup();
            q.size = s.size();
            q.ready = s.ready();
            q.desc = s.desc();
            q.avail = s.avail();
            q.used = s.used();
            q.lastAvail = s.lastAvail();
            q.usedIdx = s.usedIdx();
            if (q.ready && s.config().problem(device.maxQueueSize(), memory) != null) {
                q.ready = false;
                restored |= STATUS_NEEDS_RESET;
            }
            setup[i] = q;
        }
        active = List.of();
        status.set(restored);
        if ((restored & STATUS_DRIVER_OK) != 0 && (restored & STATUS_NEEDS_RESET) == 0) {
            activate();
        }
        if (interruptStatus.get() != 0) {
            interrupt.run(); // an edge the old process raised may not have reached the saved irqchip
        }
    }
}
