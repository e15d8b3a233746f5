package dev.stasis.loader;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

class ElfImageTest {
    private static byte[] withNotes() {
        return new ElfBuilder().entry(0x100000).load(0x100000, new byte[16], 16)
                .notes("Xen", 6, "linux\0".getBytes(), "GNU", 3, new byte[] {1, 2, 3, 4, 5}, "Xen", 18, ElfBuilder.le64(0x1000850))
                .build();
    }

    @Test
    void readsNotesInOrderWithPaddedNamesAndDescriptors() {
        List<ElfNote> notes = ElfImage.parse(withNotes()).notes();
        assertEquals(3, notes.size());
        assertEquals("Xen", notes.get(0).owner());
        assertArrayEquals("linux\0".getBytes(), notes.get(0).desc());
        assertEquals("GNU", notes.get(1).owner());
        assertEquals(3, notes.get(1).type());
        assertArrayEquals(new byte[] {1, 2, 3, 4, 5}, notes.get(1).desc());
        assertEquals(0x1000850, ElfImage.parse(withNotes()).findNote("Xen", 18).orElseThrow().descAsUnsigned());
        assertTrue(ElfImage.parse(withNotes()).findNote("Xen", 99).isEmpty());
    }

    @Test
    void rejectsANoteRunningPastItsSegment() {
        byte[] elf = withNotes();
        ByteBuffer b = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        long noteOffset = b.getLong(64 + 56 + 8);
        b.putInt((int) noteOffset + 4, 0x7fffffff); // descsz of the first note
        InvalidImageException e = assertThrows(InvalidImageException.class, () -> ElfImage.parse(elf).notes());
        assertTrue(e.getMessage().contains("extends past its PT_NOTE segment"), e.getMessage());
    }

    @Test
    void rejectsANoteSegmentPastTheFile() {
        byte[] elf = withNotes();
        ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN).putLong(64 + 56 + 32, 1 << 20);
        InvalidImageException e = assertThrows(InvalidImageException.class, () -> ElfImage.parse(elf));
        assertTrue(e.getMessage().contains("PT_NOTE"), e.getMessage());
    }
}
