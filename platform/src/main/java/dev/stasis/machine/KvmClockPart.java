package dev.stasis.machine;

import dev.stasis.devices.kvm.ClockSection;
import dev.stasis.kvm.VmFd;
import dev.stasis.kvm.x86.ClockData;
import java.util.List;

/** kvmclock, the guest's time base (KVM_GET_CLOCK / KVM_SET_CLOCK). */
final class KvmClockPart implements MachinePart {
    private final VmFd fd;

    KvmClockPart(VmFd fd) {
        this.fd = fd;
    }

    @Override
    public Phase phase() {
        return Phase.CLOCK;
    }

    @Override
    public void save(StateSink sink) {
        sink.section(ClockSection.DESCRIPTION, 0, fd.getClock());
    }

    @Override
    public Apply prepare(StateSource source) {
        ClockData clock = source.section(ClockSection.DESCRIPTION, 0);
        return () -> {
            fd.setClock(clock);
            return List.of();
        };
    }
}
