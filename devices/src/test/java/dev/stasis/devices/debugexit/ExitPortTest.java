package dev.stasis.devices.debugexit;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class ExitPortTest {
    private final List<Integer> statuses = new ArrayList<>();
    private final ExitPort port = new ExitPort(statuses::add);

    @Test
    void deliversTheStatusOfEachAccessSize() {
        port.write(0, 4, 0xdeadbeef);
        port.write(0, 2, 0x12345678);
        port.write(0, 1, 0x1ff);
        assertEquals(List.of(0xdeadbeef, 0x5678, 0xff), statuses);
    }

    @Test
    void readsReturnZeroAndOtherOffsetsAreIgnored() {
        assertEquals(0, port.read(0, 4));
        port.write(1, 1, 7);
        assertEquals(List.of(), statuses);
        assertEquals(0xf4, ExitPort.EXIT_PORT);
    }

    @Test
    void theQemuConventionGivesIsaDebugExitsStatus() {
        ExitPort qemu = new ExitPort(ExitPort.Convention.QEMU, statuses::add);
        qemu.write(0, 1, 0);
        qemu.write(0, 4, 0x10);
        qemu.write(0, 1, 0x1ff);
        assertEquals(List.of(1, 0x21, 0x1ff), statuses, "(value << 1) | 1, the value cut to the access size first");
    }
}
