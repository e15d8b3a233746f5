package dev.stasis.devices;

/**
 * A port-I/O device whose registers are all one byte wide (UART, i8042, CMOS). A wider access is split into
 * byte accesses at consecutive offsets, lowest first, little-endian, as QEMU does for devices with
 * {@code impl.max_access_size = 1}: an {@code inw} at the UART base reads RBR then IER. The split is not
 * atomic, as it is not on a real ISA bus.
 */
public interface BytePioDevice extends PioDevice {
    /** One register at {@code offset}; offsets the device does not decode read as 0xff (a floating bus). */
    int readByte(int offset);

    /** {@code value} is 0..255; writes to offsets the device does not decode are ignored. */
    void writeByte(int offset, int value);

    @Override
    default int read(int offset, int size) {
        int value = 0;
        for (int i = 0; i < size; i++) {
            value |= (readByte(offset + i) & 0xff) << (8 * i);
        }
        return value;
    }

    @Override
    default void write(int offset, int size, int value) {
        for (int i = 0; i < size; i++) {
            writeByte(offset + i, (value >>> (8 * i)) & 0xff);
        }
    }
}
