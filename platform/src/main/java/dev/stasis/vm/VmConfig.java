package dev.stasis.vm;

import dev.stasis.arch.x86.cpu.CpuModels;
import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.devices.debugexit.ExitPort;
import dev.stasis.memory.MemoryLayout;
import java.util.Objects;

/**
 * What a VM is made of. Validated here so a bad request fails before anything is created.
 *
 * @param layout guest RAM ranges
 * @param vcpus  number of vCPUs, 1..{@link #MAX_VCPUS}
 * @param cpu    the CPU every vCPU is given (its model resolved on the boot host; it travels with the guest)
 * @param boot   how the guest was booted (flat, elf, pvh, linux64, multiboot1, multiboot2; empty when not known),
 *               kept for the user: a restore does not boot
 * @param exit   what a write to the exit port means (QEMU's isa-debug-exit status, or stasis's own)
 */
public record VmConfig(MemoryLayout layout, int vcpus, GuestCpu cpu, String boot, ExitPort.Convention exit) {
    public static final int MAX_VCPUS = 64;

    public VmConfig {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count must be 1.." + MAX_VCPUS + ", got " + vcpus);
        }
        Objects.requireNonNull(cpu, "cpu");
        Objects.requireNonNull(boot, "boot");
        Objects.requireNonNull(exit, "exit");
    }

    public VmConfig(MemoryLayout layout, int vcpus, GuestCpu cpu) {
        this(layout, vcpus, cpu, "", ExitPort.Convention.STASIS);
    }

    /** A VM of the default, portable CPU model. */
    public static VmConfig of(long memorySize, int vcpus) {
        return new VmConfig(MemoryLayout.ofSize(memorySize), vcpus, defaultCpu());
    }

    public VmConfig withCpu(GuestCpu cpu) {
        return new VmConfig(layout, vcpus, cpu, boot, exit);
    }

    public VmConfig withBoot(String boot) {
        return new VmConfig(layout, vcpus, cpu, boot, exit);
    }


    /** {@link CpuModels#DEFAULT}, which needs no host to resolve. */
    public static GuestCpu defaultCpu() {
        return CpuModels.builtIn(CpuModels.DEFAULT).resolve(null);
    }
}
