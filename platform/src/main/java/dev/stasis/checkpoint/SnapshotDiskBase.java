package dev.stasis.checkpoint;

import dev.stasis.devices.virtio.blk.DiskBase;
import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.devices.virtio.blk.VirtioBlkState;
import dev.stasis.snapshot.container.ChunkAccess;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.StateException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;

/**
 * A disk's content in a snapshot file as the base of a copy-on-write disk: chunks decoded on demand from a reader of its
 * own (the file stays open while the VM runs; a file replaced under that name meanwhile does not matter, the open one
 * is read), the {@link #CACHED} most recently used kept decoded (a guest's random reads over a few chunks must not
 * decode one per read). The file is never written.
 */
final class SnapshotDiskBase implements DiskBase {
    private final SnapshotReader reader;
    private final ChunkAccess chunks;
    private final ChunkAccess.Reader decoder;
    private final long size;
    private final byte[] fingerprint;
    private static final int CACHED = 16;
    private final ByteBuffer zeros;
    /** Decoded chunks by index, least recently used first. */
    private final LinkedHashMap<Integer, ByteBuffer> decoded = new LinkedHashMap<>(CACHED, 0.75f, true);
    private boolean closed;

    private SnapshotDiskBase(SnapshotReader reader, String id, long size, byte[] fingerprint) {
        this.reader = reader;
        this.fingerprint = fingerprint;
        this.chunks = reader.diskAccess(id);
        this.decoder = chunks.reader();
        this.size = size;
        this.zeros = ByteBuffer.allocateDirect(chunks.chunkSize());
    }

    /**
     * Disk {@code id} of {@code file}, which must be the file {@code opened} read (same size and creation time): the
     * base reopens it, so it checks it is still that one. {@code saved} is its section, whose fingerprint it gives.
     */
    static SnapshotDiskBase open(Path file, SnapshotReader opened, VirtioBlkState saved) throws IOException {
        String id = saved.id();
        long size = saved.size();
        byte[] fingerprint = saved.method().equals(DiskImage.FINGERPRINT_METHOD) ? saved.fingerprint() : null;
        SnapshotReader r = SnapshotReader.open(file);
        try {
            if (r.size() != opened.size() || !r.manifest().created().equals(opened.manifest().created())) {
                throw new StateException(file + " changed while it was being restored; restore it again");
            }
            return new SnapshotDiskBase(r, id, size, fingerprint);
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public byte[] fingerprint() {
        return fingerprint == null ? null : fingerprint.clone();
    }

    @Override
    public void read(long offset, ByteBuffer into) throws IOException {
        while (into.hasRemaining()) {
            int c = chunks.chunkOf(offset);
            if (c < 0) {
                throw new IOException("disk offset " + offset + " is outside the file's disk content");
            }
            ByteBuffer chunk = decoded.get(c);
            if (chunk == null) {
                chunk = decoded.size() < CACHED ? ByteBuffer.allocateDirect(chunks.chunkSize()) : evict();
                chunk.clear().put(zeros.duplicate()).clear(); // the decoder leaves zero pages as they were
                decoder.read(c, chunk);
                decoded.put(c, chunk);
            }
            int from = (int) (offset - chunks.gpa(c));
            int n = Math.min(into.remaining(), chunks.length(c) - from);
            into.put(chunk.slice(from, n));
            offset += n;
        }
    }

    /** The least recently used chunk's buffer, out of the cache, to decode another into. */
    private ByteBuffer evict() {
        var eldest = decoded.entrySet().iterator();
        ByteBuffer b = eldest.next().getValue();
        eldest.remove();
        return b;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            decoder.close();
            try {
                reader.close();
            } catch (IOException ignored) {
                // read-only
            }
        }
    }
}
