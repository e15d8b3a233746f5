package dev.stasis.arch.x86;

import dev.stasis.kvm.x86.CpuidEntry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The XSAVE area of a saved vCPU, made fit for the vCPU it goes into. KVM fills a saved area with the state of every
 * component the saving host has (PKRU among them, on a host with protection keys, even for a guest without them), and
 * refuses with EINVAL an area whose XSTATE_BV names a component the restoring vCPU does not support: its CPUID's
 * XCR0 bits, x87 and SSE always. A guest cannot have state in a component its CPUID does not offer, so those bits are
 * cleared (the components' init state, which is what the guest saw).
 */
final class XsaveArea {
    /** Offset of XSTATE_BV in the XSAVE header (the legacy region is 512 bytes). */
    private static final int XSTATE_BV = 512;
    private static final long X87_SSE = 0x3;
    private static final int XSAVE_BIT = 1 << 26; // CPUID.1:ECX

    private XsaveArea() {}

    /** {@code area} (changed in place) with XSTATE_BV limited to what {@code cpuid} lets a guest enable; returned. */
    static byte[] fitFor(byte[] area, List<CpuidEntry> cpuid) {
        if (area.length < XSTATE_BV + 8) {
            return area;
        }
        ByteBuffer b = ByteBuffer.wrap(area).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(XSTATE_BV, b.getLong(XSTATE_BV) & (supportedXcr0(cpuid) | X87_SSE));
        return area;
    }

    /** The XCR0 bits a guest with {@code cpuid} may set: CPUID.(EAX=0DH,ECX=0):EDX:EAX, none without XSAVE. */
    static long supportedXcr0(List<CpuidEntry> cpuid) {
        boolean xsave = cpuid.stream().anyMatch(e -> e.function() == 1 && (e.ecx() & XSAVE_BIT) != 0);
        if (!xsave) {
            return 0;
        }
        return cpuid.stream().filter(e -> e.function() == 0xd && e.index() == 0).findFirst()
                .map(e -> Integer.toUnsignedLong(e.eax()) | (long) e.edx() << 32).orElse(0L);
    }
}
