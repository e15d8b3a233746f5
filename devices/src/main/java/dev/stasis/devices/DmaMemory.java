package dev.stasis.devices;

/**
 * Guest memory as a device reaches it (virtqueues, DMA buffers): bounds-checked copies in and out by
 * guest-physical address. Every write is recorded by the platform, so migration and live snapshots see the pages
 * a device writes as well as those the guest writes (KVM's dirty log shows only the guest's). An address outside
 * guest RAM is an {@link IndexOutOfBoundsException} naming it; a device turns that into an error for the guest.
 */
public interface DmaMemory {
    void read(long gpa, byte[] into, int offset, int length);

    void write(long gpa, byte[] from, int offset, int length);
}
