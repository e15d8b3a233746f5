package dev.stasis.kvm.x86;

/** {@code struct kvm_irqchip}: one in-kernel interrupt controller's state, 512 bytes. */
public record IrqchipState(int chipId, byte[] data) {
    public static final int PIC_MASTER = 0, PIC_SLAVE = 1, IOAPIC = 2;

    public IrqchipState {
        if (chipId < PIC_MASTER || chipId > IOAPIC) {
            throw new IllegalArgumentException("irqchip id must be 0 (PIC master), 1 (PIC slave) or 2 (IOAPIC), got " + chipId);
        }
        if (data.length != KvmLayout.IRQCHIP_DATA_SIZE) {
            throw new IllegalArgumentException("irqchip state must be " + KvmLayout.IRQCHIP_DATA_SIZE + " bytes, got " + data.length);
        }
        data = data.clone();
    }

    @Override
    public byte[] data() {
        return data.clone();
    }
}
