package dev.stasis.machine;

import dev.stasis.devices.kvm.IrqchipSection;
import dev.stasis.devices.kvm.PitSection;
import dev.stasis.kvm.VmFd;
import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.kvm.x86.PitState;
import dev.stasis.snapshot.state.StateException;
import java.util.ArrayList;
import java.util.List;

/** KVM's in-kernel interrupt controllers (PIC master, PIC slave, IOAPIC: irqchip#0-2) and the PIT. */
final class IrqchipPart implements MachinePart {
    private final VmFd fd;

    IrqchipPart(VmFd fd) {
        this.fd = fd;
    }

    @Override
    public Phase phase() {
        return Phase.IRQCHIP;
    }

    @Override
    public void save(StateSink sink) {
        for (int chip = IrqchipState.PIC_MASTER; chip <= IrqchipState.IOAPIC; chip++) {
            sink.section(IrqchipSection.DESCRIPTION, chip, fd.getIrqchip(chip));
        }
        sink.section(PitSection.DESCRIPTION, 0, fd.getPit2());
    }

    @Override
    public Apply prepare(StateSource source) {
        List<IrqchipState> chips = new ArrayList<>();
        for (int chip = IrqchipState.PIC_MASTER; chip <= IrqchipState.IOAPIC; chip++) {
            IrqchipState state = source.section(IrqchipSection.DESCRIPTION, chip);
            if (state.chipId() != chip) {
                throw new StateException("irqchip[" + chip + "] holds the state of chip " + state.chipId());
            }
            chips.add(state);
        }
        PitState pit = source.section(PitSection.DESCRIPTION, 0);
        return () -> {
            chips.forEach(fd::setIrqchip);
            fd.setPit2(pit);
            return List.of();
        };
    }
}
