package dev.stasis.loader;

/**
 * How the VMM must start the guest a loader placed in memory. Data segments are {@link BootGdt#DATA},
 * the GDT is the one {@link BootGdt#write} put at {@link BootGdt#BASE}; interrupts start disabled.
 *
 * @param mode        processor mode at entry
 * @param rip         entry address
 * @param cr3         page-table root for {@link CpuMode#LONG_64}, 0 otherwise
 * @param rsi         RSI at entry (Linux 64-bit boot: boot_params; flat guests: the parameter block)
 * @param rbx         RBX at entry (PVH: the hvm_start_info)
 * @param stackTop    RSP of vCPU 0 (0: leave RSP zero)
 * @param stackStride RSP of vCPU i is {@code stackTop - i * stackStride}
 * @param allVcpus    true when every vCPU starts at {@code rip} with RDI = its index (flat test guests);
 *                    false when only vCPU 0 starts and the others wait for INIT/SIPI as on real hardware
 * @param rax         EAX at entry (Multiboot: the boot loader's magic)
 */
public record EntryPoint(CpuMode mode, long rip, long cr3, long rsi, long rbx, long stackTop, long stackStride, boolean allVcpus,
                         long rax) {
    public EntryPoint(CpuMode mode, long rip, long cr3, long rsi, long rbx, long stackTop, long stackStride, boolean allVcpus) {
        this(mode, rip, cr3, rsi, rbx, stackTop, stackStride, allVcpus, 0);
    }

    public long stackFor(int vcpu) {
        return stackTop == 0 ? 0 : stackTop - (long) vcpu * stackStride;
    }
}
