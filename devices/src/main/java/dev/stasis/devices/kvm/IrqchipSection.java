package dev.stasis.devices.kvm;

import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.snapshot.state.StateDescription;

/**
 * The {@code irqchip} sections: KVM's in-kernel PIC master (instance 0), PIC slave (1) and IOAPIC (2),
 * each the 512-byte state KVM_GET_IRQCHIP returns.
 */
public final class IrqchipSection {
    private IrqchipSection() {}

    public static final String[] CHIP_NAMES = {"pic-master", "pic-slave", "ioapic"};

    public static final StateDescription<IrqchipState> DESCRIPTION = StateDescription.of("irqchip", IrqchipState.class, 1)
            .u8("chip_id", IrqchipState::chipId)
            .string("chip", s -> CHIP_NAMES[s.chipId()])
            .bytes("state", IrqchipState::data)
            .build(r -> new IrqchipState(r.getInt("chip_id"), r.getBytes("state")));
}
