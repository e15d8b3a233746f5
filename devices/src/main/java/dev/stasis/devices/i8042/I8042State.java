package dev.stasis.devices.i8042;

import dev.stasis.snapshot.state.StateDescription;
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

    /** The {@code i8042} snapshot section. */
    public static final StateDescription<I8042State> DESCRIPTION = StateDescription.of("i8042", I8042State.class, 1)
            .u8("command_byte", I8042State::commandByte)
            .u8("output_port", I8042State::outputPort)
            .u8("pending_command", I8042State::pendingCommand)
            .bool("output_full", I8042State::outputFull)
            .u8("output_byte", I8042State::outputByte)
            .bool("output_from_aux", I8042State::outputFromAux)
            .bool("last_write_was_command", I8042State::lastWriteWasCommand)
            .build(r -> new I8042State(r.getInt("command_byte"), r.getInt("output_port"), r.getInt("pending_command"),
                    r.getBool("output_full"), r.getInt("output_byte"), r.getBool("output_from_aux"), r.getBool("last_write_was_command")));


    /**
     * As firmware leaves it: keyboard interrupt on, POST passed (the system flag), reset line high,
     * A20 enabled.
     */
    public static final I8042State POWER_ON = new I8042State(
            I8042.CTR_KBD_INT | I8042.CTR_SYS, I8042.OUT_RESET | I8042.OUT_A20, 0, false, 0, false, false);
}
