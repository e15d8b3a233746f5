package dev.stasis.devices;

/**
 * A device on the port-I/O bus. {@code offset} is relative to the base port the device was attached at;
 * {@code size} is 1, 2 or 4. Called from vCPU threads (possibly several at once): implementations synchronize.
 */
public interface PioDevice {
    /** The value read; bits above {@code size} bytes are ignored. */
    int read(int offset, int size);

    void write(int offset, int size, int value);
}
