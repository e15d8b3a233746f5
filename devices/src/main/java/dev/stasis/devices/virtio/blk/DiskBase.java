package dev.stasis.devices.virtio.blk;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * What a copy-on-write disk reads where it has not written: the content a disk had before this VM (a snapshot file's
 * disk content). Read only; called under the image's lock, one call at a time.
 */
public interface DiskBase extends AutoCloseable {
    /** The disk's size in bytes. */
    long size();

    /**
     * The fingerprint of this content ({@link DiskImage#fingerprint}, method {@link DiskImage#FINGERPRINT_METHOD}) when
     * known (a snapshot saved it), else null: a copy-on-write disk over it then starts from it instead of reading it all.
     */
    byte[] fingerprint();

    /** Fills {@code into} (position to limit) with the bytes from {@code offset}. */
    void read(long offset, ByteBuffer into) throws IOException;

    /** Lets go of what it reads from; more than once is harmless. */
    @Override
    void close();
}
