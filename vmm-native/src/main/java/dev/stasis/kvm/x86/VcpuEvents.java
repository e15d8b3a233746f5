package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/**
 * {@code struct kvm_vcpu_events}: pending exception, interrupt, NMI, SIPI and SMM state. Saved last and
 * restored last (ARCHITECTURE.md), since other state ioctls can change what is pending.
 */
public record VcpuEvents(boolean exceptionInjected, int exceptionNr, boolean exceptionHasErrorCode, boolean exceptionPending,
                         int exceptionErrorCode, boolean interruptInjected, int interruptNr, int interruptSoft,
                         int interruptShadow, boolean nmiInjected, boolean nmiPending, boolean nmiMasked,
                         int sipiVector, int flags, int smiSmm, int smiPending, int smiSmmInsideNmi, int smiLatchedInit,
                         boolean tripleFaultPending, boolean exceptionHasPayload, long exceptionPayload) {

    public static final int VALID_NMI_PENDING = 1, VALID_SIPI_VECTOR = 2, VALID_SHADOW = 4, VALID_SMM = 8,
            VALID_PAYLOAD = 16, VALID_TRIPLE_FAULT = 32;

    public static VcpuEvents read(Pointer p) {
        return new VcpuEvents(p.getByte(0) != 0, p.getByte(1) & 0xff, p.getByte(2) != 0, p.getByte(3) != 0, p.getInt(4),
                p.getByte(VCPU_EVENTS_INTERRUPT) != 0, p.getByte(VCPU_EVENTS_INTERRUPT + 1) & 0xff,
                p.getByte(VCPU_EVENTS_INTERRUPT + 2) & 0xff, p.getByte(VCPU_EVENTS_INTERRUPT + 3) & 0xff,
                p.getByte(VCPU_EVENTS_NMI) != 0, p.getByte(VCPU_EVENTS_NMI + 1) != 0, p.getByte(VCPU_EVENTS_NMI + 2) != 0,
                p.getInt(VCPU_EVENTS_SIPI_VECTOR), p.getInt(VCPU_EVENTS_FLAGS),
                p.getByte(VCPU_EVENTS_SMI) & 0xff, p.getByte(VCPU_EVENTS_SMI + 1) & 0xff, p.getByte(VCPU_EVENTS_SMI + 2) & 0xff,
                p.getByte(VCPU_EVENTS_SMI + 3) & 0xff, p.getByte(VCPU_EVENTS_TRIPLE_FAULT) != 0,
                p.getByte(VCPU_EVENTS_EXCEPTION_HAS_PAYLOAD) != 0, p.getLong(VCPU_EVENTS_EXCEPTION_PAYLOAD));
    }

    public void write(Pointer p) {
        p.setMemory(0, VCPU_EVENTS_SIZE, (byte) 0);
        p.setByte(0, Segment.flag(exceptionInjected));
        p.setByte(1, (byte) exceptionNr);
        p.setByte(2, Segment.flag(exceptionHasErrorCode));
        p.setByte(3, Segment.flag(exceptionPending));
        p.setInt(4, exceptionErrorCode);
        p.setByte(VCPU_EVENTS_INTERRUPT, Segment.flag(interruptInjected));
        p.setByte(VCPU_EVENTS_INTERRUPT + 1, (byte) interruptNr);
        p.setByte(VCPU_EVENTS_INTERRUPT + 2, (byte) interruptSoft);
        p.setByte(VCPU_EVENTS_INTERRUPT + 3, (byte) interruptShadow);
        p.setByte(VCPU_EVENTS_NMI, Segment.flag(nmiInjected));
        p.setByte(VCPU_EVENTS_NMI + 1, Segment.flag(nmiPending));
        p.setByte(VCPU_EVENTS_NMI + 2, Segment.flag(nmiMasked));
        p.setInt(VCPU_EVENTS_SIPI_VECTOR, sipiVector);
        p.setInt(VCPU_EVENTS_FLAGS, flags);
        p.setByte(VCPU_EVENTS_SMI, (byte) smiSmm);
        p.setByte(VCPU_EVENTS_SMI + 1, (byte) smiPending);
        p.setByte(VCPU_EVENTS_SMI + 2, (byte) smiSmmInsideNmi);
        p.setByte(VCPU_EVENTS_SMI + 3, (byte) smiLatchedInit);
        p.setByte(VCPU_EVENTS_TRIPLE_FAULT, Segment.flag(tripleFaultPending));
        p.setByte(VCPU_EVENTS_EXCEPTION_HAS_PAYLOAD, Segment.flag(exceptionHasPayload));
        p.setLong(VCPU_EVENTS_EXCEPTION_PAYLOAD, exceptionPayload);
    }
}
