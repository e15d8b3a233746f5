package dev.stasis.loader;

/** The processor mode a loader asks the boot vCPU(s) to start in. */
public enum CpuMode {
    /** 64-bit long mode, paging on with {@link EntryPoint#cr3()}; CS = {@link BootGdt#CODE64}. */
    LONG_64,
    /** 32-bit protected mode, paging off (the PVH entry); CS = {@link BootGdt#CODE32}. */
    PROTECTED_32
}
