package dev.stasis.loader;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Builds small ELF64 x86-64 executables: program headers right after the ELF header, then segment data. */
final class ElfBuilder {
    private record Segment(int type, long paddr, byte[] data, long memSize, long align) {}

    private final List<Segment> segments = new ArrayList<>();
    private long entry;

    ElfBuilder entry(long entry) {
        this.entry = entry;
        return this;
    }

    ElfBuilder load(long paddr, byte[] data, long memSize) {
        segments.add(new Segment(ElfSegment.PT_LOAD, paddr, data, memSize, 0x1000));
        return this;
    }

    /** A PT_NOTE segment with 4-byte aligned notes, each given as owner, type, descriptor. */
    ElfBuilder notes(Object... ownerTypeDesc) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < ownerTypeDesc.length; i += 3) {
            byte[] name = (ownerTypeDesc[i] + "\0").getBytes(StandardCharsets.US_ASCII);
            byte[] desc = (byte[]) ownerTypeDesc[i + 2];
            ByteBuffer b = ByteBuffer.allocate(12 + pad4(name.length) + pad4(desc.length)).order(ByteOrder.LITTLE_ENDIAN);
            b.putInt(name.length).putInt(desc.length).putInt((Integer) ownerTypeDesc[i + 1]);
            b.put(name).position(12 + pad4(name.length));
            b.put(desc);
            out.writeBytes(b.array());
        }
        byte[] data = out.toByteArray();
        segments.add(new Segment(ElfSegment.PT_NOTE, 0, data, data.length, 4));
        return this;
    }

    static byte[] le32(long v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array();
    }

    static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    private static int pad4(int n) {
        return (n + 3) & -4;
    }

    byte[] build() {
        int phoff = 64;
        int dataStart = phoff + 56 * segments.size();
        int size = dataStart + segments.stream().mapToInt(s -> pad4(s.data.length)).sum();
        ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        b.putShort(16, (short) 2).putShort(18, (short) 62).putInt(20, 1).putLong(24, entry).putLong(32, phoff);
        b.putShort(52, (short) 64).putShort(54, (short) 56).putShort(56, (short) segments.size());
        int offset = dataStart;
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            int at = phoff + 56 * i;
            b.putInt(at, s.type).putInt(at + 4, 5).putLong(at + 8, offset).putLong(at + 16, s.paddr).putLong(at + 24, s.paddr)
                    .putLong(at + 32, s.data.length).putLong(at + 40, s.memSize).putLong(at + 48, s.align);
            b.put(offset, s.data);
            offset += pad4(s.data.length);
        }
        return b.array();
    }
}
