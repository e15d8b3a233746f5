package dev.stasis.loader.multiboot;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Little-endian bytes of a boot information structure, laid out at a known guest-physical base. */
final class InfoBuilder {
    private final long base;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    InfoBuilder(long base) {
        this.base = base;
    }

    /** The guest-physical address of the next byte. */
    long here() {
        return base + out.size();
    }

    InfoBuilder u16(int v) {
        out.write(v);
        out.write(v >>> 8);
        return this;
    }

    InfoBuilder u32(long v) {
        byte[] b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array();
        out.write(b, 0, 4);
        return this;
    }

    InfoBuilder u64(long v) {
        byte[] b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
        out.write(b, 0, 8);
        return this;
    }

    /** {@code text} as NUL-terminated ASCII/UTF-8; returns where it starts. */
    long string(String text) {
        long at = here();
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        out.write(b, 0, b.length);
        out.write(0);
        return at;
    }

    InfoBuilder align(int n) {
        while (out.size() % n != 0) {
            out.write(0);
        }
        return this;
    }

    /** Overwrites the u32 at guest-physical {@code at} (inside what was built). */
    void patch32(long at, long v) {
        byte[] all = out.toByteArray();
        ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).putInt((int) (at - base), (int) v);
        out.reset();
        out.write(all, 0, all.length);
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
