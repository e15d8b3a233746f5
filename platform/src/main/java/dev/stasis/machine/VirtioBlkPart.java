package dev.stasis.machine;

import dev.stasis.devices.virtio.VirtioMmio;
import dev.stasis.devices.virtio.VirtioMmioState;
import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import dev.stasis.kvm.Capability;
import dev.stasis.os.EventFd;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.vm.Vm;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A disk in virtio-mmio slot {@code slot}: the transport, the virtio-blk device and its wiring into KVM (the
 * queue doorbell as an ioeventfd, the interrupt as an irqfd, where KVM has them; else the MMIO exit rings the
 * doorbell and the interrupt is a pulse of the line). Sections {@code virtio-mmio} and {@code virtio-blk}, instance
 * {@code slot}. Saving flushes the image and records what it holds; restoring refuses an image that is not what the
 * snapshot saw, naming it, unless the user accepts changed disks.
 */
final class VirtioBlkPart implements MachinePart {
    /** {@code -Dstasis.virtio.ioeventfd=off}: queue notifications through the MMIO exit even where KVM has ioeventfd (to measure it). */
    static final String IOEVENTFD_PROPERTY = "stasis.virtio.ioeventfd";

    private final int slot;
    private final Vm vm;
    private final VirtioBlk blk;
    private final VirtioMmio transport;
    private final EventFd irq;
    private final boolean ioeventfd;
    private final Supplier<DiskCheck> check;

    VirtioBlkPart(int slot, DiskSpec spec, Vm vm, Consumer<String> log, Supplier<DiskCheck> check) throws IOException {
        this.slot = slot;
        this.vm = vm;
        this.check = check;
        this.blk = new VirtioBlk(spec.base() != null ? DiskImage.openOverlay(spec.path(), spec.readOnly(), spec.base()) : DiskImage.open(spec.path(), spec.readOnly()),
                spec.id(), vm.memory(), log);
        long base = VirtioSlots.address(slot);
        int gsi = VirtioSlots.irq(slot);
        try {
            if (vm.kvm().has(Capability.IRQFD)) {
                irq = new EventFd();
                vm.vmFd().irqfd(irq.fd(), gsi, true);
                transport = new VirtioMmio("virtio-blk " + spec.id(), blk, vm.memory(), irq::signal, log);
            } else {
                irq = null;
                var line = vm.irqLine(gsi);
                transport = new VirtioMmio("virtio-blk " + spec.id(), blk, vm.memory(), () -> {
                    line.set(true);
                    line.set(false);
                }, log);
            }
            ioeventfd = vm.kvm().has(Capability.IOEVENTFD) && !"off".equals(System.getProperty(IOEVENTFD_PROPERTY));
            if (ioeventfd) {
                vm.vmFd().ioeventfd(base + VirtioMmio.queueNotifyOffset(), 4, blk.doorbell().fd(), true);
            }
            vm.mmio().attach(base, VirtioMmio.WINDOW, transport, "virtio-blk " + spec.id());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    VirtioBlk device() { return blk; }

    @Override
    public Phase phase() {
        return Phase.DEVICES;
    }

    @Override
    public void save(StateSink sink) {
        sink.section(VirtioMmioState.DESCRIPTION, slot, transport.save());
        try {
            sink.section(VirtioBlkState.DESCRIPTION, slot, blk.identity());
        } catch (IOException e) {
            throw new UncheckedIOException("disk " + blk.id() + " could not be flushed and read for the snapshot: " + e.getMessage(), e);
        }
    }

    @Override
    public Apply prepare(StateSource source) {
        VirtioMmioState state = source.section(VirtioMmioState.DESCRIPTION, slot);
        VirtioBlkState saved = source.section(VirtioBlkState.DESCRIPTION, slot);
        String mismatch = transport.mismatch(state);
        if (mismatch != null) {
            throw new StateException("virtio-mmio#" + slot + " does not fit disk " + blk.id() + ": " + mismatch);
        }
        DiskCheck how = check.get();
        String changed = changes(saved, how != DiskCheck.CHECKED_BY_CALLER);
        if (changed != null && how != DiskCheck.ACCEPT_CHANGED) {
            throw new StateException("disk " + saved.id() + " (" + blk.image().path() + ") is not the disk the snapshot saw: " + changed
                    + "; restoring memory over another disk would corrupt it (--disk-changed=accept to restore anyway)");
        }
        return () -> {
            transport.restore(state);
            return changed == null ? List.of() : List.of("disk " + saved.id() + " changed since the snapshot (" + changed + "); accepted as asked");
        };
    }

    /** How the open image differs from {@code saved} (its content too, with {@code content}), or null when it holds what the snapshot saw. */
    private String changes(VirtioBlkState saved, boolean content) {
        if (saved.readOnly() != blk.image().readOnly()) {
            return "it was " + (saved.readOnly() ? "read-only" : "writable") + " then";
        }
        if (saved.size() != blk.image().size()) {
            return "its size was " + saved.size() + " bytes, is " + blk.image().size();
        }
        if (!content) {
            return null;
        }
        if (!saved.method().equals(DiskImage.FINGERPRINT_METHOD)) {
            return "its content cannot be compared: the snapshot's fingerprint is of method " + saved.method() + ", this build takes "
                    + DiskImage.FINGERPRINT_METHOD;
        }
        try {
            byte[] now = blk.image().fingerprint();
            if (!Arrays.equals(now, saved.fingerprint())) {
                return "its content changed (fingerprint " + shown(saved.fingerprint()) + ", now " + shown(now) + ")";
            }
        } catch (IOException e) {
            return "it could not be read: " + e.getMessage();
        }
        return null;
    }

    /** A fingerprint's first content bytes (after its size), however long the file's is. */
    private static String shown(byte[] fingerprint) {
        int from = Math.min(8, fingerprint.length);
        return HexFormat.of().formatHex(fingerprint, from, Math.min(fingerprint.length, from + 8)) + "...";
    }

    @Override
    public void quiesce() {
        blk.quiesce();
    }

    @Override
    public void resume() {
        blk.resume();
    }

    @Override
    public void close() {
        try {
            if (ioeventfd && transport != null) {
                vm.vmFd().ioeventfd(VirtioSlots.address(slot) + VirtioMmio.queueNotifyOffset(), 4, blk.doorbell().fd(), false);
            }
            if (irq != null) {
                vm.vmFd().irqfd(irq.fd(), VirtioSlots.irq(slot), false);
            }
        } catch (RuntimeException ignored) {
            // the VM is going away: closing its descriptor drops both
        }
        blk.close();
        if (irq != null) {
            irq.close();
        }
    }
}
