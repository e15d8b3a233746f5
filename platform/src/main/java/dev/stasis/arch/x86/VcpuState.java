package dev.stasis.arch.x86;

import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.DebugRegs;
import dev.stasis.kvm.x86.MsrEntry;
import dev.stasis.kvm.x86.Regs;
import dev.stasis.kvm.x86.Sregs;
import dev.stasis.kvm.x86.VcpuEvents;
import dev.stasis.kvm.x86.Xcr;
import dev.stasis.snapshot.state.StateDescription;
import java.util.List;

/**
 * Everything KVM holds for one x86 vCPU except its vLAPIC (a section of its own): the {@code vcpu}
 * section. MSRs are the full list KVM reports that this vCPU can read, with IA32_TSC first and
 * IA32_TSC_DEADLINE last, the order restore must write them in.
 */
public record VcpuState(int mpState, Regs regs, Sregs sregs, byte[] xsave, List<Xcr> xcrs, DebugRegs debugRegs,
                        List<MsrEntry> msrs, VcpuEvents events, List<CpuidEntry> cpuid, long tscKhz) {

    public VcpuState {
        xsave = xsave.clone();
        xcrs = List.copyOf(xcrs);
        msrs = List.copyOf(msrs);
        cpuid = List.copyOf(cpuid);
        if (mpState < 0 || mpState > 8) {
            throw new IllegalArgumentException("mp_state " + mpState + " is not a KVM MP state");
        }
    }

    @Override
    public byte[] xsave() {
        return xsave.clone();
    }

    public static final StateDescription<VcpuState> DESCRIPTION = StateDescription.of("vcpu", VcpuState.class, 1)
            .u32("mp_state", VcpuState::mpState)
            .struct("regs", X86Sections.REGS, VcpuState::regs)
            .struct("sregs", X86Sections.SREGS, VcpuState::sregs)
            .bytes("xsave", VcpuState::xsave)
            .list("xcrs", X86Sections.XCR, VcpuState::xcrs)
            .struct("debugregs", X86Sections.DEBUGREGS, VcpuState::debugRegs)
            .list("msrs", X86Sections.MSR, VcpuState::msrs)
            .struct("events", X86Sections.EVENTS, VcpuState::events)
            .list("cpuid", X86Sections.CPUID, VcpuState::cpuid)
            .u32("tsc_khz", VcpuState::tscKhz)
            .build(r -> new VcpuState(r.getInt("mp_state"), X86Sections.REGS.fromNormalized(r.getStruct("regs")),
                    X86Sections.SREGS.fromNormalized(r.getStruct("sregs")), r.getBytes("xsave"),
                    r.getList("xcrs").stream().map(X86Sections.XCR::fromNormalized).toList(),
                    X86Sections.DEBUGREGS.fromNormalized(r.getStruct("debugregs")),
                    r.getList("msrs").stream().map(X86Sections.MSR::fromNormalized).toList(),
                    X86Sections.EVENTS.fromNormalized(r.getStruct("events")),
                    r.getList("cpuid").stream().map(X86Sections.CPUID::fromNormalized).toList(), r.getLong("tsc_khz")));
}
