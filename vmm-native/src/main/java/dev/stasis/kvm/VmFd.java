package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.stasis.kvm.x86.ClockData;
import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.kvm.x86.PitState;
import dev.stasis.os.LibC;

/**
 * A VM descriptor: memory slots, the in-kernel irqchip and PIT, the clock, dirty logging, interrupt
 * injection, and the factory of vCPUs. The irqchip must be created before any vCPU.
 */
public final class VmFd extends Fd {
    public static final int MEM_LOG_DIRTY_PAGES = 1;
    public static final int MEM_READONLY = 2;
    public static final int PIT_SPEAKER_DUMMY = 1;
    public static final int IOEVENTFD_FLAG_DATAMATCH = 1;
    public static final int IOEVENTFD_FLAG_DEASSIGN = 4;
    public static final int IRQFD_FLAG_DEASSIGN = 1;

    private final int vcpuMmapSize;
    /** One scratch buffer for KVM_IRQ_LINE, which devices call often; guarded by its own lock. */
    private final Memory irqLevel = new Memory(IRQ_LEVEL_SIZE);

    VmFd(int fd, int vcpuMmapSize) {
        super(fd);
        this.vcpuMmapSize = vcpuMmapSize;
    }

    /**
     * {@code KVM_SET_USER_MEMORY_REGION}. Package-level trust: {@code hostAddress} must stay mapped for as
     * long as the slot exists, or the guest writes into whatever replaces it. A size of 0 deletes the slot.
     */
    public void setUserMemoryRegion(int slot, int flags, long gpa, long size, Pointer hostAddress) {
        Memory m = new Memory(MEMORY_REGION_SIZE);
        m.setInt(0, slot);
        m.setInt(MEMORY_REGION_FLAGS, flags);
        m.setLong(MEMORY_REGION_GPA, gpa);
        m.setLong(MEMORY_REGION_SIZE_FIELD, size);
        m.setLong(MEMORY_REGION_USERSPACE_ADDR, Pointer.nativeValue(hostAddress));
        ioctl(KvmIoctl.KVM_SET_USER_MEMORY_REGION, m,
                String.format("slot %d, flags %d, gpa 0x%x, size 0x%x", slot, flags, gpa, size));
    }

    /** {@code KVM_SET_TSS_ADDR}: three pages of guest-physical space Intel VMX needs for real mode. */
    public void setTssAddr(long gpa) {
        ioctl(KvmIoctl.KVM_SET_TSS_ADDR, gpa, String.format("gpa 0x%x", gpa));
    }

    /** {@code KVM_SET_IDENTITY_MAP_ADDR}: one page for VMX's real-mode identity page table. */
    public void setIdentityMapAddr(long gpa) {
        Memory m = new Memory(8);
        m.setLong(0, gpa);
        ioctl(KvmIoctl.KVM_SET_IDENTITY_MAP_ADDR, m, String.format("gpa 0x%x", gpa));
    }

    /** {@code KVM_CREATE_IRQCHIP}: PIC pair, IOAPIC and a LAPIC per vCPU, in the kernel. */
    public void createIrqchip() {
        ioctl(KvmIoctl.KVM_CREATE_IRQCHIP, 0L, "");
    }

    /** {@code KVM_CREATE_PIT2}, with the speaker port left to a dummy. */
    public void createPit2() {
        Memory m = new Memory(PIT_CONFIG_SIZE);
        m.clear();
        m.setInt(0, PIT_SPEAKER_DUMMY);
        ioctl(KvmIoctl.KVM_CREATE_PIT2, m, "");
    }

    public ClockData getClock() {
        Memory m = new Memory(CLOCK_DATA_SIZE);
        m.clear();
        ioctl(KvmIoctl.KVM_GET_CLOCK, m, "");
        return new ClockData(m.getLong(0), m.getInt(CLOCK_DATA_FLAGS), m.getLong(CLOCK_DATA_REALTIME), m.getLong(CLOCK_DATA_HOST_TSC));
    }

    /** {@code KVM_SET_CLOCK}: sets kvmclock; only the clock value (flags 0) is passed, as on migration. */
    public void setClock(ClockData clock) {
        Memory m = new Memory(CLOCK_DATA_SIZE);
        m.clear();
        m.setLong(0, clock.clock());
        ioctl(KvmIoctl.KVM_SET_CLOCK, m, "clock " + clock.clock());
    }

    public IrqchipState getIrqchip(int chipId) {
        Memory m = new Memory(IRQCHIP_SIZE);
        m.clear();
        m.setInt(0, chipId);
        ioctl(KvmIoctl.KVM_GET_IRQCHIP, m, "chip " + chipId);
        return new IrqchipState(chipId, m.getByteArray(IRQCHIP_CHIP, IRQCHIP_DATA_SIZE));
    }

    public void setIrqchip(IrqchipState state) {
        Memory m = new Memory(IRQCHIP_SIZE);
        m.clear();
        m.setInt(0, state.chipId());
        m.write(IRQCHIP_CHIP, state.data(), 0, IRQCHIP_DATA_SIZE);
        ioctl(KvmIoctl.KVM_SET_IRQCHIP, m, "chip " + state.chipId());
    }

    public PitState getPit2() {
        Memory m = new Memory(PIT_STATE2_SIZE);
        m.clear();
        ioctl(KvmIoctl.KVM_GET_PIT2, m, "");
        return PitState.read(m);
    }

    public void setPit2(PitState state) {
        Memory m = new Memory(PIT_STATE2_SIZE);
        state.write(m);
        ioctl(KvmIoctl.KVM_SET_PIT2, m, "");
    }

    /**
     * {@code KVM_GET_DIRTY_LOG}: the pages of {@code slot} written since the last call, one bit per page,
     * and (without manual-protect) re-arms tracking for them.
     */
    public long[] getDirtyLog(int slot, long pages) {
        int words = (int) ((pages + 63) / 64);
        Memory bitmap = new Memory(8L * Math.max(words, 1));
        bitmap.clear();
        Memory m = new Memory(DIRTY_LOG_SIZE);
        m.clear();
        m.setInt(0, slot);
        m.setPointer(DIRTY_LOG_BITMAP, bitmap);
        ioctl(KvmIoctl.KVM_GET_DIRTY_LOG, m, "slot " + slot + ", " + pages + " pages");
        return bitmap.getLongArray(0, words);
    }

    /** {@code KVM_CLEAR_DIRTY_LOG} (needs KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled): re-protects the given pages. */
    public void clearDirtyLog(int slot, long firstPage, int pages, long[] bitmap) {
        Memory bits = new Memory(8L * Math.max(bitmap.length, 1));
        bits.write(0, bitmap, 0, bitmap.length);
        Memory m = new Memory(CLEAR_DIRTY_LOG_SIZE);
        m.clear();
        m.setInt(0, slot);
        m.setInt(CLEAR_DIRTY_LOG_NUM_PAGES, pages);
        m.setLong(CLEAR_DIRTY_LOG_FIRST_PAGE, firstPage);
        m.setPointer(CLEAR_DIRTY_LOG_BITMAP, bits);
        ioctl(KvmIoctl.KVM_CLEAR_DIRTY_LOG, m, "slot " + slot + ", first page " + firstPage + ", " + pages + " pages");
    }

    /** {@code KVM_ENABLE_CAP} on the VM with one argument. */
    public void enableCap(Capability cap, long arg0) {
        Memory m = new Memory(ENABLE_CAP_SIZE);
        m.clear();
        m.setInt(0, cap.number);
        m.setLong(8, arg0);
        ioctl(KvmIoctl.KVM_ENABLE_CAP, m, "KVM_CAP_" + cap.name() + ", arg " + arg0);
    }

    /** {@code KVM_IRQ_LINE}: drives GSI {@code irq} of the in-kernel irqchip to {@code level}. */
    public void irqLine(int irq, boolean level) {
        synchronized (irqLevel) {
            irqLevel.setInt(0, irq);
            irqLevel.setInt(4, level ? 1 : 0);
            // Devices call this on every interrupt edge: the message is built only when the call fails.
            checkOpen(KvmIoctl.KVM_IRQ_LINE, "");
            if (LibC.ioctl(fd(), KvmIoctl.KVM_IRQ_LINE.request, irqLevel) < 0) {
                throw new KvmException(KvmIoctl.KVM_IRQ_LINE, Native.getLastError(), "irq " + irq);
            }
        }
    }

    /**
     * {@code KVM_IOEVENTFD}: a guest write of {@code length} bytes to MMIO address {@code gpa} signals
     * {@code eventFd} inside KVM, without leaving the vCPU for user space; {@code assign} false removes it.
     */
    public void ioeventfd(long gpa, int length, int eventFd, boolean assign) {
        Memory m = new Memory(IOEVENTFD_SIZE);
        m.clear();
        m.setLong(IOEVENTFD_ADDR, gpa);
        m.setInt(IOEVENTFD_LEN, length);
        m.setInt(IOEVENTFD_FD, eventFd);
        m.setInt(IOEVENTFD_FLAGS, assign ? 0 : IOEVENTFD_FLAG_DEASSIGN);
        ioctl(KvmIoctl.KVM_IOEVENTFD, m, String.format("mmio 0x%x, %d bytes, fd %d", gpa, length, eventFd));
    }

    /** {@code KVM_IRQFD}: a write to {@code eventFd} raises an edge on GSI {@code gsi}; {@code assign} false removes it. */
    public void irqfd(int eventFd, int gsi, boolean assign) {
        Memory m = new Memory(IRQFD_SIZE);
        m.clear();
        m.setInt(0, eventFd);
        m.setInt(IRQFD_GSI, gsi);
        m.setInt(IRQFD_FLAGS, assign ? 0 : IRQFD_FLAG_DEASSIGN);
        ioctl(KvmIoctl.KVM_IRQFD, m, "gsi " + gsi + ", fd " + eventFd);
    }

    /** {@code KVM_SIGNAL_MSI}: returns 1 when delivered, 0 when the guest blocked it. */
    public int signalMsi(long address, int data) {
        Memory m = new Memory(MSI_SIZE);
        m.clear();
        m.setInt(0, (int) address);
        m.setInt(MSI_ADDRESS_HI, (int) (address >>> 32));
        m.setInt(MSI_DATA, data);
        return ioctl(KvmIoctl.KVM_SIGNAL_MSI, m, String.format("address 0x%x, data 0x%x", address, data));
    }

    /** {@code KVM_CREATE_VCPU} and the mapping of its {@code kvm_run} page. */
    public VcpuFd createVcpu(int id) {
        int fd = ioctl(KvmIoctl.KVM_CREATE_VCPU, id, "vcpu " + id);
        return new VcpuFd(fd, id, vcpuMmapSize);
    }
}
