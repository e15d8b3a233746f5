package dev.stasis.devices;

/**
 * A device on the MMIO bus. {@code offset} is relative to the base address the device was attached at;
 * {@code size} is 1, 2, 4 or 8. Called from vCPU threads: implementations synchronize.
 */
public interface MmioDevice {
    long read(long offset, int size);

    void write(long offset, int size, long value);
}
