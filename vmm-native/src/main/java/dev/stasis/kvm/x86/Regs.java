package dev.stasis.kvm.x86;

import com.sun.jna.Pointer;

/** {@code struct kvm_regs}: the general-purpose registers, RIP and RFLAGS. */
public record Regs(long rax, long rbx, long rcx, long rdx, long rsi, long rdi, long rsp, long rbp,
                   long r8, long r9, long r10, long r11, long r12, long r13, long r14, long r15,
                   long rip, long rflags) {

    public static Regs read(Pointer p) {
        long[] v = new long[18];
        p.read(0, v, 0, 18);
        return new Regs(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17]);
    }

    public void write(Pointer p) {
        p.write(0, new long[] {rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags}, 0, 18);
    }

    /** Registers all zero but RFLAGS bit 1, which is always set. */
    public static Regs initial() {
        return new Regs(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2);
    }

    public Regs withEntry(long rip, long rsp, long rsi, long rdi, long rbx) {
        return new Regs(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags);
    }

    public Regs withRax(long rax) {
        return new Regs(rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15, rip, rflags);
    }

    @Override
    public String toString() {
        return String.format(
                "rip=%016x rflags=%08x%n rax=%016x rbx=%016x rcx=%016x rdx=%016x%n rsi=%016x rdi=%016x rsp=%016x rbp=%016x%n"
                        + " r8=%016x  r9=%016x r10=%016x r11=%016x%n r12=%016x r13=%016x r14=%016x r15=%016x",
                rip, rflags, rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8, r9, r10, r11, r12, r13, r14, r15);
    }
}
