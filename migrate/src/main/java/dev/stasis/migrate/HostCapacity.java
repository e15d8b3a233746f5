package dev.stasis.migrate;

import dev.stasis.kvm.Capability;
import dev.stasis.kvm.Kvm;
import dev.stasis.vm.VmConfig;
import java.io.IOException;

/**
 * What this host can give an incoming guest, measured when a SETUP arrives and checked before ACCEPT: a
 * destination that says yes to a guest it cannot hold would fail later, with the source's guest already
 * paused for it, or worse, be killed by the OOM killer with the guest inside.
 *
 * <p>vCPUs may outnumber this host's CPUs, as they may for {@code run} and {@code restore} (KVM and QEMU allow
 * overcommit; the guest runs slower, it does not fail): only KVM's own limit refuses a guest.
 *
 * @param availableMemory bytes the kernel says can be given out now without swapping ({@code MemAvailable})
 * @param kvmMaxVcpus     KVM's limit per VM ({@code KVM_CAP_MAX_VCPUS}), 0 when KVM does not say
 */
public record HostCapacity(long availableMemory, int kvmMaxVcpus) {
    /** Reads this host's figures now. */
    public static HostCapacity probe() {
        int maxVcpus;
        try (Kvm kvm = Kvm.open()) {
            maxVcpus = Math.max(0, kvm.checkExtension(Capability.MAX_VCPUS));
        }
        return new HostCapacity(memAvailable(), maxVcpus);
    }

    /**
     * Why this host cannot hold a guest of {@code config}, in one line, or null when it can. Its CPU model is
     * checked next, when the VM is built ({@code Vm.create} refuses a model this host cannot present, naming the
     * features), still before ACCEPT.
     */
    public String refusal(VmConfig config) {
        long ram = config.layout().totalSize();
        if (ram > availableMemory) {
            return String.format("the guest needs %s of RAM and this host has %s available", mib(ram), mib(availableMemory));
        }
        if (kvmMaxVcpus > 0 && config.vcpus() > kvmMaxVcpus) {
            return "the guest has " + config.vcpus() + " vCPUs and this host's KVM allows " + kvmMaxVcpus;
        }
        return null;
    }

    private static String mib(long bytes) {
        return (bytes >> 20) + " MiB";
    }

    /** {@code MemAvailable} from /proc/meminfo, in bytes. */
    static long memAvailable() {
        try {
            return dev.stasis.memory.HostMemory.available();
        } catch (IOException e) {
            throw new MigrationException(MigrationException.Kind.LOCAL, "cannot read /proc/meminfo: " + e.getMessage(), e);
        }
    }
}
