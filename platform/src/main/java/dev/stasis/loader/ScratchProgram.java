package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;

/**
 * A few instructions for a scratch machine (the VMM's own, never a user's guest) to run, so that starting vCPUs, their
 * run loop and a port exit have run once in a process before a guest's pause depends on them: the program writes a
 * byte to the UART {@code outs} times, then sets a flag in memory and halts with interrupts off. Halted, the vCPU
 * costs no CPU; it leaves KVM_RUN only when the VMM kicks it.
 */
public final class ScratchProgram {
    private ScratchProgram() {}

    private static final long CODE = 0x1000;
    private static final long FLAG = 0x2000;
    private static final int DONE = 0x5354_4f50;

    /** Writes the program and the boot GDT into {@code memory} (below 16 KiB) and returns where it starts. */
    public static EntryPoint load(GuestMemory memory, int outs) {
        BootGdt.write(memory);
        memory.putInt(FLAG, 0);
        byte[] code = {
            (byte) 0xb9, (byte) outs, (byte) (outs >>> 8), (byte) (outs >>> 16), (byte) (outs >>> 24), // mov $outs, %ecx
            0x66, (byte) 0xba, (byte) 0xf8, 0x03,                                                       // mov $0x3f8, %dx
            (byte) 0xb0, 0x2e,                                                                          // mov $'.', %al
            (byte) 0xee,                                                                                // 1: out %al, %dx
            (byte) 0xe2, (byte) 0xfd,                                                                   // loop 1b
            (byte) 0xc7, 0x05, (byte) FLAG, (byte) (FLAG >>> 8), 0, 0,                                  // movl $DONE, FLAG
            (byte) DONE, (byte) (DONE >>> 8), (byte) (DONE >>> 16), (byte) (DONE >>> 24),
            (byte) 0xf4,                                                                                // 2: hlt
            (byte) 0xeb, (byte) 0xfd,                                                                   // jmp 2b
        };
        memory.write(CODE, code);
        return new EntryPoint(CpuMode.PROTECTED_32, CODE, 0, 0, 0, 0, 0, false);
    }

    /** Whether the program has done its writes and halted. */
    public static boolean finished(GuestMemory memory) {
        return memory.getInt(FLAG) == DONE;
    }
}
