package dev.stasis.kvm.x86;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;

/** {@code struct kvm_debugregs}: DR0-DR3, DR6, DR7. */
public record DebugRegs(long[] db, long dr6, long dr7, long flags) {
    public DebugRegs {
        db = db.clone(); // immutable, as every saved state is: a restored one is shared by the clones of a file
    }

    @Override
    public long[] db() {
        return db.clone();
    }

    public static DebugRegs read(Pointer p) {
        long[] db = new long[4];
        p.read(0, db, 0, 4);
        return new DebugRegs(db, p.getLong(DEBUGREGS_DR6), p.getLong(DEBUGREGS_DR7), p.getLong(DEBUGREGS_FLAGS));
    }

    public void write(Pointer p) {
        p.setMemory(0, DEBUGREGS_SIZE, (byte) 0);
        p.write(0, db, 0, 4);
        p.setLong(DEBUGREGS_DR6, dr6);
        p.setLong(DEBUGREGS_DR7, dr7);
        p.setLong(DEBUGREGS_FLAGS, flags);
    }
}
