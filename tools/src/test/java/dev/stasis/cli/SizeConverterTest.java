package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;
import picocli.CommandLine.TypeConversionException;

class SizeConverterTest {
    @Test
    void unitsAndByteSuffixes() {
        assertEquals(4096, SizeConverter.parse("4096"));
        assertEquals(512 << 10, SizeConverter.parse("512K"));
        assertEquals(64 << 20, SizeConverter.parse("64M"));
        assertEquals(64 << 20, SizeConverter.parse("64MiB"));
        assertEquals(2L << 30, SizeConverter.parse("2GB"));
        assertEquals(100, SizeConverter.parse("100B"));
        assertEquals(0x10L << 20, SizeConverter.parse("0x10M"));
    }

    @Test
    void aTrailingBInAHexNumberIsADigit() {
        assertEquals(0x7b, SizeConverter.parse("0x7B"));
        assertEquals(0x1b, SizeConverter.parse("0x1b"));
        assertEquals(0x10000000L, SizeConverter.parse("0x10000000"));
    }

    @Test
    void nonsenseIsRefusedWithAnExample() {
        TypeConversionException e = assertThrows(TypeConversionException.class, () -> SizeConverter.parse("lots"));
        assertTrue(e.getMessage().contains("examples"));
        assertThrows(TypeConversionException.class, () -> SizeConverter.parse("-5M"));
    }
}
