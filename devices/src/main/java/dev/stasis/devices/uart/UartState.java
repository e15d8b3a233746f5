package dev.stasis.devices.uart;

import dev.stasis.snapshot.state.StateDescription;
import java.util.Arrays;

/**
 * Everything a {@link Uart16550} holds, as plain values. IIR is not here: it is derived from the other
 * registers. The transmitter is always empty (bytes leave at once), so there is no THR/TSR either.
 *
 * @param divisor              baud divisor latch, DLM:DLL (0..0xffff)
 * @param ier                  interrupt enable register (0..0x0f)
 * @param lcr                  line control register (0..0xff)
 * @param mcr                  modem control register (0..0x1f)
 * @param lsr                  line status register; DR is set exactly when {@code rxFifo} is not empty,
 *                             THRE and TEMT are always set
 * @param msr                  modem status register: inputs in bits 7..4, delta flags in bits 3..0
 * @param scr                  scratch register (0..0xff)
 * @param fcr                  the FIFO control bits that stick: enable, DMA mode, trigger level (mask 0xc9)
 * @param thrInterruptPending  the THR-empty interrupt is armed (cleared by reading it from IIR or writing THR)
 * @param rxFifo               received bytes not yet read by the guest, oldest first (at most 16; at most 1
 *                             with the FIFO disabled)
 */
public record UartState(int divisor, int ier, int lcr, int mcr, int lsr, int msr, int scr, int fcr,
                        boolean thrInterruptPending, byte[] rxFifo) {

    /** The {@code uart} snapshot section. */
    public static final StateDescription<UartState> DESCRIPTION = StateDescription.of("uart", UartState.class, 1)
            .u16("divisor", UartState::divisor)
            .u8("ier", UartState::ier)
            .u8("lcr", UartState::lcr)
            .u8("mcr", UartState::mcr)
            .u8("lsr", UartState::lsr)
            .u8("msr", UartState::msr)
            .u8("scr", UartState::scr)
            .u8("fcr", UartState::fcr)
            .bool("thr_interrupt_pending", UartState::thrInterruptPending)
            .bytes("rx_fifo", UartState::rxFifo)
            .build(r -> new UartState(r.getInt("divisor"), r.getInt("ier"), r.getInt("lcr"), r.getInt("mcr"), r.getInt("lsr"),
                    r.getInt("msr"), r.getInt("scr"), r.getInt("fcr"), r.getBool("thr_interrupt_pending"), r.getBytes("rx_fifo")));


    /** The state after power-on or reset, as QEMU's serial_reset: 9600 baud, OUT2 set, carrier present. */
    public static final UartState POWER_ON = new UartState(
            0x0c, 0, 0, Uart16550.MCR_OUT2, Uart16550.LSR_THRE | Uart16550.LSR_TEMT,
            Uart16550.LINE_INPUTS, 0, 0, false, new byte[0]);

    public UartState {
        rxFifo = rxFifo == null ? null : rxFifo.clone();
    }

    @Override
    public byte[] rxFifo() {
        return rxFifo == null ? null : rxFifo.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UartState s
                && divisor == s.divisor && ier == s.ier && lcr == s.lcr && mcr == s.mcr && lsr == s.lsr
                && msr == s.msr && scr == s.scr && fcr == s.fcr && thrInterruptPending == s.thrInterruptPending
                && Arrays.equals(rxFifo, s.rxFifo);
    }

    @Override
    public int hashCode() {
        int h = java.util.Objects.hash(divisor, ier, lcr, mcr, lsr, msr, scr, fcr, thrInterruptPending);
        return 31 * h + Arrays.hashCode(rxFifo);
    }

    @Override
    public String toString() {
        return String.format("UartState[divisor=0x%x, ier=0x%x, lcr=0x%x, mcr=0x%x, lsr=0x%x, msr=0x%x, scr=0x%x, "
                        + "fcr=0x%x, thrInterruptPending=%b, rxFifo=%s]", divisor, ier, lcr, mcr, lsr, msr, scr, fcr,
                thrInterruptPending, Arrays.toString(rxFifo));
    }
}
