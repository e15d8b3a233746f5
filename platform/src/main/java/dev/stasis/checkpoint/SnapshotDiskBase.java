package dev.stasis.checkpoint;

import dev.stasis.devices.virtio.blk.DiskBase;
import dev.stasis.snapshot.container.ChunkAccess;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.StateException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/**
 * A disk's content in a snapshot file as the base of a copy-on-write disk: chunks decoded on demand from a reader of its
 * own (the file stays open while the VM runs; a file replaced under that name meanwhile does not matter, the open one
 * is read), the last one kept. The file is never written.
 */
final class SnapshotDiskBase implements DiskBase {
    private final SnapshotReader reader;
    private final ChunkAccess chunks;
    private final ChunkAccess.Reader decoder;
    private final long size;
    private final ByteBuffer chunk;
    private final ByteBuffer zeros;
    private int cached = -1;
    private boolean closed;

    private SnapshotDiskBase(SnapshotReader reader, String id, long size) {
        this.reader = reader;
        this.chunks = reader.diskAccess(id);
        this.decoder = chunks.reader();
        this.size = size;
        this.chunk = ByteBuffer.allocateDirect(chunks.chunkSize());
        this.zeros = ByteBuffer.allocateDirect(chunks.chunkSize());
    }

    /**
     * Disk {@code id} of {@code file}, which must be the file {@code opened} read (same size and creation time): the
     * base reopens it, so it checks it is still that one.
     */
    static SnapshotDiskBase open(Path file, SnapshotReader opened, String id, long size) throws IOException {
        SnapshotReader r = SnapshotReader.open(file);
        try {
            if (r.size() != opened.size() || !r.manifest().created().equals(opened.manifest().created())) {
                throw new StateException(file + " changed while it was being restored; restore it again");
            }
            return new SnapshotDiskBase(r, id, size);
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
    public void read(long offset, ByteBuffer into) throws IOException {
        while (into.hasRemaining()) {
            int c = chunks.chunkOf(offset);
            if (c < 0) {
                throw new IOException("disk offset " + offset + " is outside the file's disk content");
            }
            if (c != cached) {
                cached = -1;
                chunk.clear().put(zeros.duplicate()).clear(); // the decoder leaves zero pages as they were
                decoder.read(c, chunk);
                cached = c;
            }
            int from = (int) (offset - chunks.gpa(c));
            int n = Math.min(into.remaining(), chunks.length(c) - from);
            into.put(chunk.slice(from, n));
            offset += n;
        }
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
