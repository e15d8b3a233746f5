package dev.stasis.machine;

import dev.stasis.arch.x86.VcpuState;
import dev.stasis.arch.x86.VcpuStateIo;
import dev.stasis.arch.x86.cpu.CpuCompatibility;
import dev.stasis.devices.kvm.LapicSection;
import dev.stasis.kvm.Capability;
import dev.stasis.vcpu.Vcpu;
import dev.stasis.vm.Vm;
import java.util.ArrayList;
import java.util.List;

/**
 * Every vCPU: its {@code vcpu} section (registers, MSRs, CPUID, ...) and its vLAPIC, in KVM's order
 * ({@link VcpuStateIo}). A restore checks each saved CPU against what this host can present before anything is
 * written.
 */
final class VcpuPart implements MachinePart {
    private final Vm vm;

    VcpuPart(Vm vm) {
        this.vm = vm;
    }

    @Override
    public Phase phase() {
        return Phase.VCPUS;
    }

    @Override
    public void save(StateSink sink) {
        int[] msrs = vm.stateMsrs();
        for (Vcpu v : vm.vcpus()) {
            VcpuStateIo.Saved saved = VcpuStateIo.save(v, msrs, vm.xsaveSize(), vm.hasXcrs());
            sink.section(VcpuState.DESCRIPTION, v.id(), saved.vcpu());
            sink.section(LapicSection.DESCRIPTION, v.id(), saved.lapic());
        }
    }

    @Override
    public Apply prepare(StateSource source) {
        List<VcpuStateIo.Saved> states = new ArrayList<>();
        for (Vcpu v : vm.vcpus()) {
            VcpuStateIo.Saved saved = new VcpuStateIo.Saved(source.section(VcpuState.DESCRIPTION, v.id()),
                    source.section(LapicSection.DESCRIPTION, v.id()));
            CpuCompatibility.check(saved.vcpu().cpuid(), vm.hostCpu(), "the guest's CPU (" + vm.config().cpu().describe() + ")");
            states.add(saved);
        }
        return () -> {
            var host = new VcpuStateIo.Host(vm.hasXcrs(), vm.xsaveSize(), vm.kvm().has(Capability.TSC_CONTROL));
            List<String> notes = new ArrayList<>();
            for (Vcpu v : vm.vcpus()) {
                String note = VcpuStateIo.restore(v, states.get(v.id()), host);
                if (note != null && notes.isEmpty()) {
                    notes.add(note); // the same for every vCPU
                }
            }
            return notes;
        };
    }
}
