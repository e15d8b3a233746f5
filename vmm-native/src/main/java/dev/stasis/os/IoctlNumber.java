package dev.stasis.os;

/**
 * Linux ioctl request numbers from the {@code _IO/_IOR/_IOW/_IOWR} rules of {@code <asm-generic/ioctl.h>}:
 * direction in bits 30-31, argument size in 16-29, the driver's type byte in 8-15, the number in 0-7.
 */
public final class IoctlNumber {
    private IoctlNumber() {}

    private static final long NONE = 0, WRITE = 1, READ = 2;

    public static long io(int type, int nr) { return encode(NONE, type, nr, 0); }
    public static long ior(int type, int nr, int size) { return encode(READ, type, nr, size); }
    public static long iow(int type, int nr, int size) { return encode(WRITE, type, nr, size); }
    public static long iowr(int type, int nr, int size) { return encode(READ | WRITE, type, nr, size); }

    private static long encode(long direction, int type, int nr, int size) {
        return (direction << 30) | ((long) size << 16) | ((long) type << 8) | nr;
    }
}
