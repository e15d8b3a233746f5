package dev.stasis.vcpu;

import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.x86.CpuidEntry;
import java.util.List;

/**
 * The opaque handle of one vCPU (libvmmapi's {@code struct vcpu}): every per-vCPU operation takes it.
 * It owns the KVM descriptor and knows the host thread that runs it, so it can be kicked out of KVM_RUN.
 * Register access through {@link #fd()} is valid only while the vCPU is paused or not yet started.
 */
public final class Vcpu implements AutoCloseable {
    private final int id;
    private final VcpuFd fd;
    private volatile int tid;
    /** System.nanoTime() at the first KVM_RUN, 0 before it. */
    private volatile long firstRun;
    private volatile List<CpuidEntry> cpuid = List.of();

    public Vcpu(int id, VcpuFd fd) {
        this.id = id;
        this.fd = fd;
    }

    public int id() {
        return id;
    }

    /** The KVM descriptor, for state access while the vCPU is out of KVM_RUN. */
    public VcpuFd fd() {
        return fd;
    }

    /**
     * Sets the vCPU's CPUID (KVM_SET_CPUID2) and keeps the table: it is what a snapshot saves as the guest's
     * CPU, never KVM_GET_CPUID2, which some KVMs (this machine's emulating one) report merged with host bits.
     */
    public void setCpuid(List<CpuidEntry> table) {
        fd.setCpuid2(table);
        this.cpuid = List.copyOf(table);
    }

    /** The CPUID table last set with {@link #setCpuid}. */
    public List<CpuidEntry> cpuid() {
        return cpuid;
    }

    /** The Linux thread id running this vCPU, 0 while no thread runs it. */
    public int tid() {
        return tid;
    }

    void bindToCurrentThread(int tid) {
        this.tid = tid;
    }

    /**
     * When this vCPU first entered the guest (KVM_RUN; System.nanoTime()), 0 while it has not: where a restore's
     * "request to the guest's first instruction" ends, which the call that started the vCPUs returns after.
     */
    public long firstRunNanos() {
        return firstRun;
    }

    void enteringGuest() {
        if (firstRun == 0) {
            firstRun = System.nanoTime();
        }
    }

    @Override
    public void close() {
        fd.close();
    }

    @Override
    public String toString() {
        return "vcpu " + id;
    }
}
