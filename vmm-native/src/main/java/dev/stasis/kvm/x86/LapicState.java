package dev.stasis.kvm.x86;

/**
 * {@code struct kvm_lapic_state}: the 1 KiB xAPIC register page as KVM exposes it. Registers sit at their
 * MMIO offsets, 32 bits each, 16-byte aligned.
 */
public record LapicState(byte[] registers) {
    public static final int ID = 0x20, VERSION = 0x30, TPR = 0x80, EOI = 0xb0, LDR = 0xd0, SVR = 0xf0, ISR = 0x100,
            TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LOW = 0x300, ICR_HIGH = 0x310, LVT_TIMER = 0x320,
            LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370, TIMER_INITIAL_COUNT = 0x380,
            TIMER_CURRENT_COUNT = 0x390, TIMER_DIVIDE = 0x3e0;
    /** SVR bit 8: the APIC is software-enabled. */
    public static final int SVR_ENABLED = 1 << 8;
    /** LVT bit 16: the entry is masked. */
    public static final int LVT_MASKED = 1 << 16;

    public LapicState {
        if (registers.length != KvmLayout.LAPIC_SIZE) {
            throw new IllegalArgumentException("LAPIC state must be " + KvmLayout.LAPIC_SIZE + " bytes, got " + registers.length);
        }
        registers = registers.clone();
    }

    @Override
    public byte[] registers() {
        return registers.clone();
    }

    public int get(int offset) {
        return (registers[offset] & 0xff) | (registers[offset + 1] & 0xff) << 8 | (registers[offset + 2] & 0xff) << 16
                | (registers[offset + 3] & 0xff) << 24;
    }

    public LapicState with(int offset, int value) {
        byte[] copy = registers.clone();
        for (int i = 0; i < 4; i++) {
            copy[offset + i] = (byte) (value >>> (8 * i));
        }
        return new LapicState(copy);
    }
}
