package dev.stasis.devices.virtio;

import com.sun.jna.Memory;
import dev.stasis.devices.DmaMemory;
import java.io.IOException;

/** Guest RAM for device tests with no VM: native memory at guest-physical 0, bounds-checked like the platform's. */
final class NativeRam implements DmaMemory {
    final Memory ram;

    NativeRam(long size) {
        ram = new Memory(size);
        ram.clear();
    }

    @Override
    public boolean contains(long gpa, long length) {
        return gpa >= 0 && length >= 0 && gpa <= ram.size() - length;
    }

    private void check(long gpa, long length) {
        if (!contains(gpa, length)) {
            throw new IndexOutOfBoundsException(String.format("[0x%x, +%d) is outside guest RAM", gpa, length));
        }
    }

    @Override
    public void read(long gpa, byte[] into, int offset, int length) {
        check(gpa, length);
        ram.read(gpa, into, offset, length);
    }

    @Override
    public void write(long gpa, byte[] from, int offset, int length) {
        check(gpa, length);
        ram.write(gpa, from, offset, length);
    }

    @Override
    public long transfer(long gpa, int length, boolean guestWrites, InPlace io) throws IOException {
        check(gpa, length);
        return io.apply(ram.share(gpa), length);
    }
}
