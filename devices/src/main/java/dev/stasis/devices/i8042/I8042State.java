package dev.stasis.devices.i8042;

/**
 * Everything an {@link I8042} holds. The status register is not here: it is derived from these fields.
 *
 * @param commandByte         the controller configuration byte (CTR) read by 0x20 and written by 0x60
 * @param outputPort          the output port (bit 0 = CPU reset line, active low; bit 1 = A20 gate)
 * @param pendingCommand      a command waiting for its parameter byte on the data port
 *                            (0x60, 0xd1, 0xd2, 0xd3, 0xd4), or 0 when none is
 * @param outputFull          a byte waits in the output buffer for the guest (status OBF)
 * @param outputByte          the output buffer; a read of the data port with nothing new returns it again
 * @param outputFromAux       the waiting byte comes from the aux (mouse) port; only with {@code outputFull}
 * @param lastWriteWasCommand the last write went to the command port (status bit 3)
 */
public record I8042State(int commandByte, int outputPort, int pendingCommand, boolean outputFull,
                         int outputByte, boolean outputFromAux, boolean lastWriteWasCommand) {

    /**
     * As firmware leaves it: keyboard interrupt on, POST passed (the system flag), reset line high,
     * A20 enabled.
     */
    public static final I8042State POWER_ON = new I8042State(
            I8042.CTR_KBD_INT | I8042.CTR_SYS, I8042.OUT_RESET | I8042.OUT_A20, 0, false, 0, false, false);
}
