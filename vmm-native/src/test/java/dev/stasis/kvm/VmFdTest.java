package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.kvm.x86.ClockData;
import dev.stasis.kvm.x86.IrqchipState;
import dev.stasis.kvm.x86.PitChannel;
import dev.stasis.kvm.x86.PitState;
import dev.stasis.os.Errno;
import dev.stasis.os.Mapping;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The VM descriptor's ioctls on the real /dev/kvm. */
@RequiresKvm
class VmFdTest {
    @Test
    void memorySlotWithDirtyLoggingCanBeSetAndDeleted() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm(); Mapping m = Mapping.anonymous(1 << 20)) {
            vm.setUserMemoryRegion(3, VmFd.MEM_LOG_DIRTY_PAGES, 0x100000, 1 << 20, m.address());
            long[] log = vm.getDirtyLog(3, 256);
            assertEquals(4, log.length);
            assertArrayEquals(new long[4], log, "nothing ran, nothing is dirty");
            vm.setUserMemoryRegion(3, 0, 0x100000, 0, m.address()); // size 0 deletes
            KvmException e = assertThrows(KvmException.class, () -> vm.getDirtyLog(3, 256));
            assertEquals(KvmIoctl.KVM_GET_DIRTY_LOG, e.ioctl());
            assertEquals(Errno.ENOENT, e.errno(), e.getMessage());
        }
    }

    @Test
    void anOverlappingSlotIsRefusedWithContext() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm(); Mapping m = Mapping.anonymous(1 << 20)) {
            vm.setUserMemoryRegion(0, 0, 0, 1 << 20, m.address());
            KvmException e = assertThrows(KvmException.class, () -> vm.setUserMemoryRegion(1, 0, 0x80000, 1 << 20, m.address()));
            assertEquals(Errno.EEXIST, e.errno());
            assertTrue(e.getMessage().startsWith("KVM_SET_USER_MEMORY_REGION failed: EEXIST"), e.getMessage());
            assertTrue(e.getMessage().contains("slot 1") && e.getMessage().contains("gpa 0x80000"), e.getMessage());
        }
    }

    @Test
    void clockRoundTrips() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm()) {
            vm.createIrqchip();
            ClockData c0 = vm.getClock();
            long target = c0.clock() + 50_000_000_000L;
            vm.setClock(new ClockData(target, 0, 0, 0));
            ClockData c1 = vm.getClock();
            assertTrue(c1.clock() >= target && c1.clock() < target + 1_000_000_000L,
                    "clock set to " + target + " reads " + c1.clock());
            vm.setClock(c1);
            ClockData c2 = vm.getClock();
            assertTrue(c2.clock() >= c1.clock() && c2.clock() < c1.clock() + 1_000_000_000L, c1 + " then " + c2);
        }
    }

    @Test
    void allThreeIrqchipsRoundTripAndAChangeReadsBack() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm()) {
            vm.createIrqchip();
            for (int chip : new int[] {IrqchipState.PIC_MASTER, IrqchipState.PIC_SLAVE, IrqchipState.IOAPIC}) {
                IrqchipState s0 = vm.getIrqchip(chip);
                assertEquals(chip, s0.chipId());
                vm.setIrqchip(s0);
                assertArrayEquals(s0.data(), vm.getIrqchip(chip).data(), "chip " + chip);
            }
            // kvm_pic_state: last_irr, irr, imr, isr, ...: mask all but the cascade on the master.
            byte[] pic = vm.getIrqchip(IrqchipState.PIC_MASTER).data();
            pic[2] = (byte) 0xfb;
            vm.setIrqchip(new IrqchipState(IrqchipState.PIC_MASTER, pic));
            assertEquals((byte) 0xfb, vm.getIrqchip(IrqchipState.PIC_MASTER).data()[2]);
        }
    }

    @Test
    void irqLineRaisesThePicRequest() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm()) {
            vm.createIrqchip();
            assertEquals(0, vm.getIrqchip(IrqchipState.PIC_MASTER).data()[1] & (1 << 4));
            vm.irqLine(4, true);
            assertNotEquals(0, vm.getIrqchip(IrqchipState.PIC_MASTER).data()[1] & (1 << 4), "IRR bit 4 after raising GSI 4");
            vm.irqLine(4, false);
            KvmException e = assertThrows(KvmException.class, () -> {
                try (Kvm k = Kvm.open(); VmFd noChip = k.createVm()) {
                    noChip.irqLine(4, true);
                }
            });
            assertEquals(KvmIoctl.KVM_IRQ_LINE, e.ioctl());
        }
    }

    @Test
    void pit2RoundTripsAndAChangedCountReadsBack() {
        try (Kvm kvm = Kvm.open(); VmFd vm = kvm.createVm()) {
            vm.createIrqchip();
            vm.createPit2();
            PitState s0 = vm.getPit2();
            vm.setPit2(s0);
            // KVM_SET_PIT2 reloads each count and stamps count_load_time with the current host time.
            assertEquals(withoutLoadTimes(s0), withoutLoadTimes(vm.getPit2()));
            List<PitChannel> channels = new ArrayList<>(s0.channels());
            PitChannel c0 = channels.get(0);
            channels.set(0, new PitChannel(0x1234, c0.latchedCount(), c0.countLatched(), c0.statusLatched(), c0.status(),
                    c0.readState(), c0.writeState(), c0.writeLatch(), 3, 2, 0, 1, 0));
            vm.setPit2(new PitState(channels, s0.flags()));
            PitChannel back = vm.getPit2().channels().get(0);
            assertEquals(0x1234, back.count());
            assertEquals(2, back.mode());
            assertEquals(3, back.rwMode());
        }
    }

    private static PitState withoutLoadTimes(PitState s) {
        return new PitState(s.channels().stream().map(c -> new PitChannel(c.count(), c.latchedCount(), c.countLatched(),
                c.statusLatched(), c.status(), c.readState(), c.writeState(), c.writeLatch(), c.rwMode(), c.mode(), c.bcd(),
                c.gate(), 0)).toList(), s.flags());
    }

    /**
     * Writes 0x400000 and 0x403000, exits (out 0x10), writes 0x405000 and 0x43f000, exits, spins.
     * The data slot at 0x400000 is the only one with dirty logging, so its log is exactly the pages written.
     */
    static final byte[] WRITE_PAGES = TinyGuest.bytes(
            0x89, 0x04, 0x25, 0x00, 0x00, 0x40, 0x00, // mov %eax,0x400000
            0x89, 0x04, 0x25, 0x00, 0x30, 0x40, 0x00, // mov %eax,0x403000
            0xe6, 0x10,                               // out %al,$0x10
            0x89, 0x04, 0x25, 0x00, 0x50, 0x40, 0x00, // mov %eax,0x405000
            0x89, 0x04, 0x25, 0x00, 0xf0, 0x43, 0x00, // mov %eax,0x43f000
            0xe6, 0x10,                               // out %al,$0x10
            0xf3, 0x90, 0xeb, 0xfc);                  // 1: pause; jmp 1b

    @Test
    void dirtyLogShowsExactlyThePagesTheGuestWrote() {
        try (TinyGuest g = TinyGuest.create(false)) {
            g.addSlot(1, 0x400000, 64 * 4096, VmFd.MEM_LOG_DIRTY_PAGES);
            g.load(WRITE_PAGES);
            assertEquals(bits(), BitSet.valueOf(g.vm.getDirtyLog(1, 64)), "before running");
            assertEquals(0x10, g.runToIo());
            assertEquals(bits(0, 3), BitSet.valueOf(g.vm.getDirtyLog(1, 64)));
            assertEquals(bits(), BitSet.valueOf(g.vm.getDirtyLog(1, 64)), "reading the log re-arms it");
            assertEquals(0x10, g.runToIo());
            assertEquals(bits(5, 63), BitSet.valueOf(g.vm.getDirtyLog(1, 64)));
        }
    }

    private static BitSet bits(int... pages) {
        BitSet b = new BitSet();
        for (int p : pages) {
            b.set(p);
        }
        return b;
    }
}
