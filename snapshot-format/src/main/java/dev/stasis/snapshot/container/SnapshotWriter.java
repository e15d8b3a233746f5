package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.codec.Encoder;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Writes one snapshot file, only ever creating or replacing a regular file ({@link SnapshotTarget}).
 * Everything goes to a temporary file beside the target; {@link #commit}
 * appends manifest, index and trailer, forces the file to disk, renames it over the target atomically
 * and forces the directory. Until then the target is untouched: {@link #close} without commit (or any
 * failure) deletes the temporary file, so no crash leaves a half file under the real name.
 *
 * <pre>{@code
 * try (SnapshotWriter w = SnapshotWriter.create(path, WriterOptions.defaults())) {
 *     w.manifest(Manifest.of("0.1.0", Map.of("vcpus", "2")));
 *     w.section("uart", 0, UartState.DESCRIPTION, uart.save());
 *     w.memory(ram);
 *     w.commit();
 * }
 * }</pre>
 *
 * Not thread-safe: one thread calls it (memory compression runs on its own threads inside).
 */
public final class SnapshotWriter implements AutoCloseable {
    private final Path target;
    private final Path temp;
    private final WriterOptions options;
    private final FileChannel channel;
    private final List<IndexEntry> index = new ArrayList<>();
    private final List<ManifestCodec.Entry> sections = new ArrayList<>();
    private final Set<String> sectionKeys = new HashSet<>();
    private final long started = System.nanoTime();
    private long position;
    private long sectionNanos;
    private Manifest manifest;
    private MemoryStats memory;
    private boolean memoryWritten;
    private final java.util.Set<String> diskIds = new java.util.HashSet<>();
    private boolean failed;
    private boolean committed;
    private boolean closed;

    private SnapshotWriter(Path target, WriterOptions options) throws IOException {
        this.target = target.toAbsolutePath();
        this.options = Objects.requireNonNull(options, "options");
        Path dir = SnapshotTarget.check(this.target);
        this.temp = Files.createTempFile(dir, "." + this.target.getFileName() + ".", ".tmp");
        FileChannel ch = null;
        try {
            ch = FileChannel.open(temp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            this.channel = ch;
            writeFully(Layout.header(FormatVersion.CURRENT));
        } catch (IOException | RuntimeException e) {
            if (ch != null) {
                ch.close();
            }
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    public static SnapshotWriter create(Path target, WriterOptions options) throws IOException {
        return new SnapshotWriter(target, options);
    }

    /** The manifest; written at commit, with the list of sections added. Required before commit. */
    public SnapshotWriter manifest(Manifest manifest) {
        checkOpen();
        this.manifest = Objects.requireNonNull(manifest, "manifest");
        return this;
    }

    /** A section saved through its description, at the description's version and schema. */
    public <S> SnapshotWriter section(String name, int instance, StateDescription<S> description, S state) throws IOException {
        StateRecord record;
        try {
            record = description.save(state);
        } catch (RuntimeException e) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "section " + name + "#" + instance + ": " + e.getMessage(), e);
        }
        return section(name, instance, description.version(), description.schema(), record);
    }

    /** A section from a record that must match {@code schema} exactly (every field, right types and ranges). */
    public SnapshotWriter section(String name, int instance, int version, StructSchema schema, StateRecord record) throws IOException {
        checkOpen();
        long t0 = System.nanoTime();
        if (!SectionInfo.validName(name)) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "section name '" + name + "' must match [A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}");
        }
        if (instance < 0 || version < 1) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "section " + name + ": instance must be >= 0 and version >= 1");
        }
        if (sectionKeys.contains(name + "#" + instance)) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "section " + name + "#" + instance + " written twice");
        }
        byte[] payload = SectionBlock.encode(name, instance, version, schema, record);
        sectionKeys.add(name + "#" + instance);
        if (payload.length > Layout.MAX_SECTION) {
            throw new SnapshotFormatException(Kind.LIMIT, "section " + name + "#" + instance + " is " + payload.length + " bytes, over the limit " + Layout.MAX_SECTION);
        }
        append(BlockType.SECTION, Layout.frame(BlockType.SECTION, payload));
        sections.add(new ManifestCodec.Entry(name, instance, version));
        sectionNanos += System.nanoTime() - t0;
        return this;
    }

    /** All of guest memory; at most once. Zero pages are left out, the others compressed on several threads. */
    public MemoryStats memory(GuestRam ram) throws IOException {
        return memory(ram, bytes -> { });
    }

    /** {@link #memory(GuestRam)}, telling {@code progress} the guest bytes of each chunk once it is written. */
    public MemoryStats memory(GuestRam ram, java.util.function.LongConsumer progress) throws IOException {
        checkOpen();
        if (memoryWritten) {
            throw new IllegalStateException("memory already written");
        }
        memoryWritten = true;
        MemoryMap map = MemoryMap.checked(Layout.PAGE_SIZE, options.chunkSize(), ram.ranges(), Kind.INVALID_INPUT);
        boolean ok = false;
        try {
            append(BlockType.MEMORY_MAP, Layout.frame(BlockType.MEMORY_MAP, MemoryMapCodec.encode(map)));
            memory = new MemoryWriter(options).write(ram, map, BlockType.CHUNK, this::append, progress);
            ok = true;
            return memory;
        } finally {
            failed |= !ok;
        }
    }

    /**
     * The content of disk {@code id}, {@code size} bytes, read through {@code content} as one range from 0 (since 1.3): a
     * DISK_MAP block, then its DISK_CHUNK blocks, encoded as memory chunks are (zero pages left out, repeats as
     * references within the disk, the rest compressed). Before or after the memory; once per disk.
     */
    public MemoryStats disk(String id, long size, GuestRam content, java.util.function.LongConsumer progress) throws IOException {
        checkOpen();
        if (!diskIds.add(id)) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "disk " + id + " written twice");
        }
        DiskMapCodec.DiskMap disk = DiskMapCodec.of(id, size, options.chunkSize(), Kind.INVALID_INPUT);
        if (!content.ranges().equals(disk.map().ranges())) {
            throw new SnapshotFormatException(Kind.INVALID_INPUT, "disk " + id + ": its content is " + content.ranges() + ", not " + disk.map().ranges());
        }
        boolean ok = false;
        try {
            append(BlockType.DISK_MAP, Layout.frame(BlockType.DISK_MAP, DiskMapCodec.encode(disk)));
            MemoryStats stats = new MemoryWriter(options).write(content, disk.map(), BlockType.DISK_CHUNK, this::append, progress);
            ok = true;
            return stats;
        } finally {
            failed |= !ok;
        }
    }

    /** Manifest, index and trailer; fsync; atomic rename over the target; fsync of the directory. */
    public WriteReport commit() throws IOException {
        checkOpen();
        if (manifest == null) {
            throw new IllegalStateException("no manifest: call manifest(...) before commit()");
        }
        long t0 = System.nanoTime();
        boolean ok = false;
        try {
            append(BlockType.MANIFEST, Layout.frame(BlockType.MANIFEST, ManifestCodec.encode(manifest, sections)));
            Encoder idx = new Encoder();
            idx.u32(index.size());
            for (IndexEntry e : index) {
                idx.u32(e.type()).u32((int) e.length()).u64(e.offset());
            }
            ByteBuffer indexBlock = Layout.frame(BlockType.INDEX, idx.toBytes());
            long indexOffset = position;
            long indexLength = indexBlock.remaining();
            writeFully(indexBlock);
            writeFully(Layout.trailer(indexOffset, indexLength));
            awaitEarlyFlush();
            channel.force(true);
            channel.close();
            SnapshotTarget.check(target); // again: what sits there may have changed while the file was written
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            committed = true;
            forceDirectory(target.getParent());
            ok = true;
        } finally {
            failed |= !ok;
        }
        long now = System.nanoTime();
        return new WriteReport(position, sections.size(), memory, Duration.ofNanos(sectionNanos), Duration.ofNanos(now - t0), Duration.ofNanos(now - started));
    }

    /** Without a commit, deletes the temporary file; the target stays as it was. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try {
            awaitEarlyFlush();
        } catch (IOException e) {
            // Closing without commit: the temporary file goes anyway.
        }
        try {
            channel.close();
        } finally {
            if (!committed) {
                Files.deleteIfExists(temp);
            }
        }
    }

    /** Bytes written so far. */
    public long position() {
        return position;
    }

    private void append(BlockType type, ByteBuffer block) throws IOException {
        long offset = position;
        long length = block.remaining();
        writeFully(block);
        index.add(new IndexEntry(type.code, offset, length));
        flushEarly();
    }

    /** Bytes written before an early flush is started: the disk works while chunks are still compressed. */
    private static final long EARLY_FLUSH_BYTES = 8 << 20;
    private Thread earlyFlush;
    private IOException earlyFlushFailure;
    private long flushRequestedAt;

    /**
     * Starts an fdatasync of what is written so far on a background thread, at most one at a time, so the
     * final fsync in {@link #commit} finds little left to write. Durability still rests on that final fsync.
     */
    private void flushEarly() {
        if (position - flushRequestedAt < EARLY_FLUSH_BYTES || (earlyFlush != null && earlyFlush.isAlive())) {
            return;
        }
        flushRequestedAt = position;
        earlyFlush = new Thread(() -> {
            try {
                channel.force(false);
            } catch (IOException e) {
                synchronized (this) {
                    earlyFlushFailure = e;
                }
            }
        }, "stasis-snapshot-flush");
        earlyFlush.setDaemon(true);
        earlyFlush.start();
    }

    private void awaitEarlyFlush() throws IOException {
        if (earlyFlush != null) {
            try {
                earlyFlush.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new java.io.InterruptedIOException("interrupted while flushing the snapshot");
            }
        }
        synchronized (this) {
            if (earlyFlushFailure != null) {
                throw earlyFlushFailure;
            }
        }
    }

    private void writeFully(ByteBuffer b) throws IOException {
        boolean ok = false;
        try {
            while (b.hasRemaining()) {
                position += channel.write(b);
            }
            ok = true;
        } finally {
            failed |= !ok;
        }
    }

    private void checkOpen() {
        if (closed || committed) {
            throw new IllegalStateException("snapshot writer for " + target + " is " + (committed ? "committed" : "closed"));
        }
        if (failed) {
            throw new IllegalStateException("snapshot writer for " + target + " failed earlier; close it");
        }
    }

    private static void forceDirectory(Path dir) throws IOException {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        }
    }
}
