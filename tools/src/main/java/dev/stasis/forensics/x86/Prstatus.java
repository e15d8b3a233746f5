package dev.stasis.forensics.x86;

import dev.stasis.snapshot.state.StateRecord;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The x86-64 Linux {@code struct elf_prstatus} (336 bytes) that gdb reads from an NT_PRSTATUS note, built from
 * a {@code vcpu} section record. pr_pid is the vCPU index + 1 (gdb shows each vCPU as a thread, LWP 1, 2, ...);
 * pr_reg is {@code struct user_regs_struct}: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax
 * rip cs eflags rsp ss fs_base gs_base ds es fs gs. fs_base and gs_base are the segment bases from sregs, which
 * are the architectural FS.base/GS.base (the same values as IA32_FS_BASE/IA32_GS_BASE); orig_rax is -1 ("not in
 * a system call"), so gdb never tries to restart one.
 */
public final class Prstatus {
    public static final int NT_PRSTATUS = 1;
    public static final int SIZE = 336;
    static final int PR_PID = 32;
    static final int PR_REG = 112;

    private Prstatus() {}

    public static byte[] of(int vcpuIndex, StateRecord vcpu) {
        StateRecord regs = vcpu.getStruct("regs");
        StateRecord sregs = vcpu.getStruct("sregs");
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(PR_PID, vcpuIndex + 1);
        b.putInt(PR_PID + 4, 0);  // pr_ppid
        b.position(PR_REG);
        for (String r : new String[] {"r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi"}) {
            b.putLong(regs.getLong(r));
        }
        b.putLong(-1L); // orig_rax
        b.putLong(regs.getLong("rip"));
        b.putLong(selector(sregs, "cs"));
        b.putLong(regs.getLong("rflags"));
        b.putLong(regs.getLong("rsp"));
        b.putLong(selector(sregs, "ss"));
        b.putLong(sregs.getStruct("fs").getLong("base"));
        b.putLong(sregs.getStruct("gs").getLong("base"));
        for (String s : new String[] {"ds", "es", "fs", "gs"}) {
            b.putLong(selector(sregs, s));
        }
        assert b.position() == PR_REG + 27 * 8;
        b.putInt(0); // pr_fpvalid: no NT_PRFPREG note
        return b.array();
    }

    private static long selector(StateRecord sregs, String segment) {
        return sregs.getStruct(segment).getLong("selector");
    }
}
