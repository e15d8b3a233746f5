package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Fixed-offset accessors over a vCPU's mapped {@code kvm_run} page. This is the hot path of every exit, so
 * it reads the page in place and allocates nothing.
 */
public final class KvmRun {
    public static final int EXIT_UNKNOWN = 0, EXIT_EXCEPTION = 1, EXIT_IO = 2, EXIT_HYPERCALL = 3, EXIT_DEBUG = 4,
            EXIT_HLT = 5, EXIT_MMIO = 6, EXIT_IRQ_WINDOW_OPEN = 7, EXIT_SHUTDOWN = 8, EXIT_FAIL_ENTRY = 9,
            EXIT_INTR = 10, EXIT_INTERNAL_ERROR = 17, EXIT_SYSTEM_EVENT = 24;
    public static final int IO_IN = 0, IO_OUT = 1;
    public static final int SYSTEM_EVENT_SHUTDOWN = 1, SYSTEM_EVENT_RESET = 2, SYSTEM_EVENT_CRASH = 3;

    /** A direct view of the mapping: its reads compile to plain loads, where a JNA Pointer call costs ~0.1 µs each. */
    private final ByteBuffer page;
    private final Pointer address;

    KvmRun(Pointer address, int size) {
        this.address = address;
        this.page = address.getByteBuffer(0, size).order(ByteOrder.nativeOrder());
    }

    public int exitReason() { return page.getInt(RUN_EXIT_REASON); }

    public void setImmediateExit(boolean on) { page.put(RUN_IMMEDIATE_EXIT, (byte) (on ? 1 : 0)); }

    public int ioDirection() { return page.get(RUN_IO_DIRECTION); }
    public int ioSize() { return page.get(RUN_IO_SIZE); }
    public int ioPort() { return page.getShort(RUN_IO_PORT) & 0xffff; }
    public int ioCount() { return page.getInt(RUN_IO_COUNT); }
    public long ioDataOffset() { return page.getLong(RUN_IO_DATA_OFFSET); }

    /** Reads {@code size} bytes (1, 2 or 4) of I/O data at {@code offset} in the page, zero-extended. */
    public int ioData(long offset, int size) {
        return switch (size) {
            case 1 -> page.get((int) offset) & 0xff;
            case 2 -> page.getShort((int) offset) & 0xffff;
            default -> page.getInt((int) offset);
        };
    }

    public void setIoData(long offset, int size, int value) {
        switch (size) {
            case 1 -> page.put((int) offset, (byte) value);
            case 2 -> page.putShort((int) offset, (short) value);
            default -> page.putInt((int) offset, value);
        }
    }

    public long mmioAddress() { return page.getLong(RUN_MMIO_PHYS_ADDR); }
    public int mmioLength() { return page.getInt(RUN_MMIO_LEN); }
    public boolean mmioIsWrite() { return page.get(RUN_MMIO_IS_WRITE) != 0; }
    public long mmioData() { return page.getLong(RUN_MMIO_DATA); }
    public void setMmioData(long value) { page.putLong(RUN_MMIO_DATA, value); }

    public int internalSuberror() { return page.getInt(RUN_INTERNAL_SUBERROR); }

    public long[] internalData() {
        int n = Math.min(page.getInt(RUN_INTERNAL_NDATA), 16);
        return address.getLongArray(RUN_INTERNAL_DATA, n);
    }

    public long failEntryReason() { return page.getLong(RUN_FAIL_ENTRY_REASON); }
    public int systemEventType() { return page.getInt(RUN_SYSTEM_EVENT_TYPE); }
    public long hardwareExitReason() { return page.getLong(RUN_HW_EXIT_REASON); }

    public static String exitName(int reason) {
        return switch (reason) {
            case EXIT_UNKNOWN -> "KVM_EXIT_UNKNOWN"; case EXIT_EXCEPTION -> "KVM_EXIT_EXCEPTION"; case EXIT_IO -> "KVM_EXIT_IO";
            case EXIT_HYPERCALL -> "KVM_EXIT_HYPERCALL"; case EXIT_DEBUG -> "KVM_EXIT_DEBUG"; case EXIT_HLT -> "KVM_EXIT_HLT";
            case EXIT_MMIO -> "KVM_EXIT_MMIO"; case EXIT_IRQ_WINDOW_OPEN -> "KVM_EXIT_IRQ_WINDOW_OPEN";
            case EXIT_SHUTDOWN -> "KVM_EXIT_SHUTDOWN"; case EXIT_FAIL_ENTRY -> "KVM_EXIT_FAIL_ENTRY"; case EXIT_INTR -> "KVM_EXIT_INTR";
            case EXIT_INTERNAL_ERROR -> "KVM_EXIT_INTERNAL_ERROR"; case EXIT_SYSTEM_EVENT -> "KVM_EXIT_SYSTEM_EVENT";
            default -> "exit reason " + reason;
        };
    }
}
