package dev.stasis.forensics.x86;

import dev.stasis.forensics.PhysicalMemory;
import dev.stasis.forensics.x86.PageFaultException.Kind;
import java.nio.ByteBuffer;

/** Reads a vCPU's linear address space offline: each 4 KiB piece is translated on its own, so reads may cross pages. */
public final class VirtualMemory {
    private final PhysicalMemory memory;
    private final PageWalker walker;
    private final ControlRegisters cr;

    public VirtualMemory(PhysicalMemory memory, PageWalker walker, ControlRegisters cr) {
        this.memory = memory;
        this.walker = walker;
        this.cr = cr;
    }

    public Translation translate(long vaddr) {
        return walker.translate(cr, vaddr);
    }

    public byte[] read(long vaddr, int length) {
        byte[] out = new byte[length];
        int done = 0;
        while (done < length) {
            long va = vaddr + done;
            int n = (int) Math.min(length - done, 4096 - (va & 4095));
            Translation t = walker.translate(cr, va);
            ByteBuffer b = memory.view(t.gpa(), n);
            if (b == null) {
                String via = t.steps().isEmpty() ? "paging is off" : "through " + PageWalker.describe(t.steps().get(t.steps().size() - 1));
                throw new PageFaultException(Kind.OUTSIDE_RAM, t.steps().isEmpty() ? "" : t.steps().get(t.steps().size() - 1).level(),
                        String.format("0x%x maps to guest-physical 0x%x (%s), outside guest RAM %s", va, t.gpa(), via, memory.ranges()));
            }
            b.get(out, done, n);
            done += n;
        }
        return out;
    }
}
