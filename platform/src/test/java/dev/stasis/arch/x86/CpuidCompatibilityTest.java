package dev.stasis.arch.x86;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.snapshot.state.StateException;
import java.util.List;
import org.junit.jupiter.api.Test;

class CpuidCompatibilityTest {
    static final List<CpuidEntry> HOST = List.of(
            new CpuidEntry(1, 0, 0, 0, 0, 0x0000_2001, 0x0000_0011),
            new CpuidEntry(7, 0, 1, 0, 0b1010, 0, 0),
            new CpuidEntry(0x80000001, 0, 0, 0, 0, 1, 0));

    @Test
    void aGuestUsingOnlyWhatTheHostHasIsAccepted() {
        CpuidCompatibility.check(List.of(
                new CpuidEntry(1, 0, 0, 0, 0, 0x0000_2001 | (1 << 31) | (1 << 27), 0x11), // hypervisor, OSXSAVE are not features
                new CpuidEntry(7, 0, 1, 0, 0b0010, 0, 0)), HOST);
    }

    @Test
    void aFeatureTheHostLacksIsRefusedByLeafRegisterAndBit() {
        StateException e = assertThrows(StateException.class, () -> CpuidCompatibility.check(List.of(
                new CpuidEntry(7, 0, 1, 0, 0b1_0000_0000_0000_0010, 0, 0),
                new CpuidEntry(0x80000001, 0, 0, 0, 0, 1, 1 << 29)), HOST));
        assertTrue(e.getMessage().contains("leaf 0x7.0 EBX bits 16"), e.getMessage());
        assertTrue(e.getMessage().contains("leaf 0x80000001 EDX bits 29"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void aLeafTheHostDoesNotHaveAtAllCountsAsNoFeatures() {
        assertThrows(StateException.class, () -> CpuidCompatibility.check(List.of(new CpuidEntry(7, 0, 1, 0, 1, 0, 0)),
                List.of(new CpuidEntry(1, 0, 0, 0, 0, 0, 0))));
    }
}
