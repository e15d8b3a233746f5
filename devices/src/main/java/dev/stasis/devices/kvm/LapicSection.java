package dev.stasis.devices.kvm;

import dev.stasis.kvm.x86.LapicState;
import dev.stasis.snapshot.state.StateDescription;

/**
 * The {@code lapic} section (one per vCPU): KVM's in-kernel vLAPIC register page. The timer's fields
 * are also written decoded, for people reading the file; restore uses the register page.
 *
 * <p>The timer lesson from bhyve (c72e914c, "vlapic resume can eat 100% CPU"): a restored timer may run
 * only when the APIC is software-enabled, its LVT entry is unmasked and its initial count is non-zero,
 * and what it keeps is the remaining count, never more than the initial count. {@link #forRestore}
 * enforces that before the page goes back to KVM, which re-arms the timer from the current count.
 */
public final class LapicSection {
    private LapicSection() {}

    public static final StateDescription<LapicState> DESCRIPTION = StateDescription.of("lapic", LapicState.class, 1)
            .bytes("registers", LapicState::registers)
            .u32("id", l -> Integer.toUnsignedLong(l.get(LapicState.ID)) >>> 24)
            .u32("svr", l -> Integer.toUnsignedLong(l.get(LapicState.SVR)))
            .u32("lvt_timer", l -> Integer.toUnsignedLong(l.get(LapicState.LVT_TIMER)))
            .u32("timer_divide", l -> Integer.toUnsignedLong(l.get(LapicState.TIMER_DIVIDE)))
            .u32("timer_initial_count", l -> Integer.toUnsignedLong(l.get(LapicState.TIMER_INITIAL_COUNT)))
            .u32("timer_current_count", l -> Integer.toUnsignedLong(l.get(LapicState.TIMER_CURRENT_COUNT)))
            .build(r -> new LapicState(r.getBytes("registers")));

    /** The register page as it may go back to KVM: a timer that cannot fire keeps no count. */
    public static LapicState forRestore(LapicState saved) {
        int initial = saved.get(LapicState.TIMER_INITIAL_COUNT);
        int current = saved.get(LapicState.TIMER_CURRENT_COUNT);
        boolean enabled = (saved.get(LapicState.SVR) & LapicState.SVR_ENABLED) != 0;
        if (!enabled || initial == 0) {
            return saved.with(LapicState.TIMER_CURRENT_COUNT, 0);
        }
        if (Integer.compareUnsigned(current, initial) > 0) {
            return saved.with(LapicState.TIMER_CURRENT_COUNT, initial);
        }
        return saved;
    }
}
