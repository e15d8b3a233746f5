package dev.stasis.vcpu;

import dev.stasis.bus.MmioBus;
import dev.stasis.bus.PioBus;
import dev.stasis.kvm.KvmRun;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.os.VcpuKick;

/**
 * The body of one vCPU's platform thread: KVM_RUN, dispatch the exit, repeat, parking whenever
 * {@link RunControl} asks. Port and MMIO exits are served here on the vCPU's own thread; everything that
 * ends the guest goes to the {@link ExitHandler}.
 */
public final class VcpuLoop implements Runnable {
    private final Vcpu vcpu;
    private final RunControl control;
    private final PioBus pio;
    private final MmioBus mmio;
    private final ExitHandler handler;

    public VcpuLoop(Vcpu vcpu, RunControl control, PioBus pio, MmioBus mmio, ExitHandler handler) {
        this.vcpu = vcpu;
        this.control = control;
        this.pio = pio;
        this.mmio = mmio;
        this.handler = handler;
    }

    @Override
    public void run() {
        VcpuFd fd = vcpu.fd();
        KvmRun page = fd.runPage();
        VcpuKick.blockInCurrentThread();
        vcpu.bindToCurrentThread(VcpuKick.currentTid());
        control.enter();
        try {
            fd.setSignalMask(VcpuKick.runMask());
            long sliceStart = 0;
            boolean entered = false;
            Runnable completePendingIo = () -> completePendingIo(fd, page);
            while (control.awaitRunnable(completePendingIo)) {
                int throttle = control.throttlePercent(); // auto-converge; one volatile read when off
                if (throttle != 0) {
                    long now = System.nanoTime();
                    if (sliceStart == 0) {
                        sliceStart = now;
                    } else if (now - sliceStart >= RunControl.THROTTLE_SLICE_NANOS) {
                        control.throttleSleep(throttle);
                        sliceStart = System.nanoTime();
                        continue; // a pause or stop may have come while asleep
                    }
                } else {
                    sliceStart = 0;
                }
                if (!entered) {
                    entered = true;
                    vcpu.enteringGuest();
                }
                if (!fd.run()) {
                    VcpuKick.drainPending();
                    continue;
                }
                if (!dispatch(page)) {
                    break;
                }
            }
        } catch (Throwable t) {
            handler.hostFailure(vcpu, t);
        } finally {
            vcpu.bindToCurrentThread(0); // no more kicks to this thread
            VcpuKick.drainPending();
            control.leave();
        }
    }

    /**
     * KVM finishes a port-I/O or MMIO instruction (the IN's register, the RIP past an OUT) only when the
     * vCPU enters KVM_RUN again; until then the state userspace reads is mid-instruction, and a snapshot of
     * it would repeat the I/O after restore. Re-entering with immediate_exit finishes the instruction and
     * returns at once without running the guest (KVM API, "immediate_exit"; QEMU does the same).
     */
    private static void completePendingIo(VcpuFd fd, KvmRun page) {
        page.setImmediateExit(true);
        try {
            fd.run();
        } finally {
            page.setImmediateExit(false);
            VcpuKick.drainPending();
        }
    }

    /** Handles one exit; false when this vCPU must stop running. */
    private boolean dispatch(KvmRun page) {
        int reason = page.exitReason();
        switch (reason) {
            case KvmRun.EXIT_IO -> {
                portIo(page);
                return true;
            }
            case KvmRun.EXIT_MMIO -> {
                mmio(page);
                return true;
            }
            case KvmRun.EXIT_INTR, KvmRun.EXIT_IRQ_WINDOW_OPEN -> {
                return true;
            }
            case KvmRun.EXIT_SYSTEM_EVENT -> {
                return systemEvent(page);
            }
            case KvmRun.EXIT_SHUTDOWN -> handler.guestStopped(vcpu, GuestStop.SHUTDOWN, page);
            case KvmRun.EXIT_INTERNAL_ERROR -> handler.guestStopped(vcpu, GuestStop.INTERNAL_ERROR, page);
            case KvmRun.EXIT_FAIL_ENTRY -> handler.guestStopped(vcpu, GuestStop.FAIL_ENTRY, page);
            case KvmRun.EXIT_HLT -> handler.guestStopped(vcpu, GuestStop.HALTED, page);
            default -> handler.guestStopped(vcpu, GuestStop.UNHANDLED_EXIT, page);
        }
        return false;
    }

    private void portIo(KvmRun page) {
        int port = page.ioPort();
        int size = page.ioSize();
        int count = page.ioCount();
        long offset = page.ioDataOffset();
        boolean out = page.ioDirection() == KvmRun.IO_OUT;
        // String I/O (rep outs/ins) arrives as count items back to back in the page.
        for (int i = 0; i < count; i++, offset += size) {
            if (out) {
                pio.write(port, size, page.ioData(offset, size));
            } else {
                page.setIoData(offset, size, pio.read(port, size));
            }
        }
    }

    private void mmio(KvmRun page) {
        long address = page.mmioAddress();
        int length = page.mmioLength();
        if (page.mmioIsWrite()) {
            long data = page.mmioData();
            long mask = length >= 8 ? -1L : (1L << (8 * length)) - 1;
            mmio.write(address, length, data & mask);
        } else {
            page.setMmioData(mmio.read(address, length));
        }
    }

    private boolean systemEvent(KvmRun page) {
        switch (page.systemEventType()) {
            case KvmRun.SYSTEM_EVENT_RESET -> {
                handler.resetRequested(vcpu);
                return true;
            }
            case KvmRun.SYSTEM_EVENT_CRASH -> handler.guestStopped(vcpu, GuestStop.CRASH, page);
            default -> handler.guestStopped(vcpu, GuestStop.SHUTDOWN, page);
        }
        return false;
    }
}
