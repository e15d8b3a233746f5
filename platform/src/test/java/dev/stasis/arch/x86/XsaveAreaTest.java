package dev.stasis.arch.x86;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.x86.CpuidEntry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The XSAVE area a restore gives KVM names only components the guest's CPUID offers. The golden files of 1.2 and 1.3
 * (saved on a host with protection keys) are the real case: on a host without them KVM refused their areas, which named
 * PKRU for a guest without XSAVE.
 */
class XsaveAreaTest {
    private static final int XSAVE = 1 << 26;
    private static final long PKRU = 1L << 9;

    private static byte[] area(long xstateBv) {
        byte[] a = new byte[4096];
        ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN).putLong(512, xstateBv).putInt(24, 0x1f80);
        return a;
    }

    private static long xstateBv(byte[] a) {
        return ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN).getLong(512);
    }

    @Test
    void aGuestWithoutXsaveKeepsOnlyX87AndSse() {
        List<CpuidEntry> cpuid = List.of(new CpuidEntry(1, 0, 0, 0, 0, 0, 0), new CpuidEntry(0xd, 0, 1, 0x207, 0, 0, 0));
        byte[] a = XsaveArea.fitFor(area(PKRU | 0x3), cpuid);
        assertEquals(0x3, xstateBv(a));
        assertEquals(0x1f80, ByteBuffer.wrap(a).order(ByteOrder.LITTLE_ENDIAN).getInt(24), "the legacy region is left as it was");
    }

    @Test
    void aGuestWithXsaveKeepsWhatItsLeafDOffers() {
        List<CpuidEntry> avx = List.of(new CpuidEntry(1, 0, 0, 0, 0, XSAVE, 0), new CpuidEntry(0xd, 0, 1, 0x7, 0, 0, 0));
        assertEquals(0x7, xstateBv(XsaveArea.fitFor(area(PKRU | 0x7), avx)));
        List<CpuidEntry> keys = List.of(new CpuidEntry(1, 0, 0, 0, 0, XSAVE, 0), new CpuidEntry(0xd, 0, 1, 0x207, 0, 0, 0));
        assertEquals(PKRU | 0x7, xstateBv(XsaveArea.fitFor(area(PKRU | 0x7), keys)), "a guest with protection keys keeps its PKRU");
        assertEquals(0x207, XsaveArea.supportedXcr0(keys));
    }
}
