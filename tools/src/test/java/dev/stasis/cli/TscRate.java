package dev.stasis.cli;

import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.VmFd;

/** The guest TSC frequency KVM gives new vCPUs on this host, to turn guest TSC deltas into seconds. */
final class TscRate {
    private TscRate() {}

    static long khz() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm(); VcpuFd vcpu = vm.createVcpu(0)) {
            return vcpu.getTscKhz();
        }
    }
}
