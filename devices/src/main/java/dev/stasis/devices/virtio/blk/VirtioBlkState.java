package dev.stasis.devices.virtio.blk;

import dev.stasis.snapshot.state.StateDescription;
import java.util.Arrays;

/**
 * Which disk a virtio-blk device served, as the snapshot saw it: restore reopens it and refuses one that is not
 * this disk. Requests need no state here: none is in progress when a snapshot is taken (the device finishes them
 * first), and those the driver made available but the device had not taken stay in guest memory, behind the
 * queue's saved index. Section {@code virtio-blk}, one instance per transport slot.
 *
 * @param id          the disk's name and serial
 * @param readOnly    whether the guest saw it read-only
 * @param path        the image, absolute, where it was when saved
 * @param size        its size in bytes then
 * @param fingerprint {@link DiskImage#fingerprint} of its content then (flushed)
 * @param method      how the fingerprint was taken ({@link DiskImage#FINGERPRINT_METHOD}): a restore compares only
 *                    fingerprints of one method, and says so when it cannot
 */
public record VirtioBlkState(String id, boolean readOnly, String path, long size, byte[] fingerprint, String method) {
    public static final StateDescription<VirtioBlkState> DESCRIPTION = StateDescription.of("virtio-blk", VirtioBlkState.class, 1)
            .string("id", VirtioBlkState::id)
            .bool("read_only", VirtioBlkState::readOnly)
            .string("path", VirtioBlkState::path)
            .u64("size", VirtioBlkState::size)
            .bytes("fingerprint", VirtioBlkState::fingerprint)
            .string("fingerprint_method", VirtioBlkState::method)
            .build(r -> new VirtioBlkState(r.getString("id"), r.getBool("read_only"), r.getString("path"), r.getLong("size"), r.getBytes("fingerprint"),
                    r.getString("fingerprint_method")));

    public VirtioBlkState {
        fingerprint = fingerprint.clone();
    }

    @Override
    public byte[] fingerprint() {
        return fingerprint.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VirtioBlkState s && id.equals(s.id) && readOnly == s.readOnly && path.equals(s.path) && size == s.size
                && Arrays.equals(fingerprint, s.fingerprint) && method.equals(s.method);
    }

    @Override
    public int hashCode() {
        return 31 * java.util.Objects.hash(id, readOnly, path, size, method) + Arrays.hashCode(fingerprint);
    }
}
