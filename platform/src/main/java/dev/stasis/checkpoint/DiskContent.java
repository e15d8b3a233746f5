package dev.stasis.checkpoint;

import com.sun.jna.Native;
import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.os.LibC;
import dev.stasis.os.Mapping;
import dev.stasis.snapshot.container.GuestRam;
import dev.stasis.snapshot.container.GuestRamSink;
import dev.stasis.snapshot.container.RamRange;
import dev.stasis.snapshot.container.SnapshotReader;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A disk's content in a snapshot file ({@code snapshot --with-disks}): read from the image for the writer (holes are
 * zero pages, not read), and written out of the file into a new image for a restore (sparse: only what is not zero is
 * written). The format is the memory's (DISK_MAP, DISK_CHUNK): one page codec for both.
 */
final class DiskContent {
    private DiskContent() {}

    /** The range the format gives a disk of {@code size} bytes: from 0 to the size rounded up to a page. */
    static List<RamRange> ranges(long size) {
        return List.of(new RamRange(0, (size + 4095) / 4096 * 4096));
    }

    /**
     * {@code image} as the snapshot writer reads it, on several threads: each window is read into a buffer of the
     * thread's own (one of a chunk, one of a page, as the writer's contract allows); bytes past the image's size are zero.
     */
    static GuestRam of(DiskImage image) {
        return new GuestRam() {
            private final ThreadLocal<ByteBuffer> big = new ThreadLocal<>();
            private final ThreadLocal<ByteBuffer> page = new ThreadLocal<>();

            @Override
            public List<RamRange> ranges() {
                return DiskContent.ranges(image.size());
            }

            @Override
            public ByteBuffer window(long offset, int length) {
                ThreadLocal<ByteBuffer> which = length <= 4096 ? page : big;
                ByteBuffer b = which.get();
                if (b == null || b.capacity() < length) {
                    b = ByteBuffer.allocateDirect(Math.max(length, 4096));
                    which.set(b);
                }
                b.clear();
                int inImage = (int) Math.max(0, Math.min(length, image.size() - offset));
                try {
                    image.read(offset, Native.getDirectBufferPointer(b), inImage);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                for (int i = inImage; i < length; i++) {
                    b.put(i, (byte) 0);
                }
                return b.limit(length);
            }

            @Override
            public boolean knownZero(long offset, long length) {
                return !image.hasData(offset, length);
            }
        };
    }

    /**
     * Writes disk {@code id}'s content from {@code reader} into {@code target}, a new file ({@code size} bytes,
     * sparse), made durable; refuses a target that exists rather than overwrite it.
     */
    static void writeOut(SnapshotReader reader, String id, long size, Path target) throws IOException {
        try {
            Files.createFile(target);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw new IOException("disk " + id + ": " + target + " exists; the snapshot's disk is written to a new file (remove it or name another)");
        }
        boolean ok = false;
        try {
            long mapped = ranges(size).get(0).size();
            try (RandomAccessFile f = new RandomAccessFile(target.toFile(), "rw")) {
                f.setLength(mapped); // the tail of the last page, then cut back to the size
            }
            int fd = LibC.open(target.toString(), LibC.O_RDWR | LibC.O_CLOEXEC);
            if (fd < 0) {
                throw new IOException("cannot open " + target + ": " + LibC.strerror(Native.getLastError()));
            }
            try (Mapping m = Mapping.ofFd(fd, mapped, 0)) {
                GuestRamSink sink = (offset, length) -> {
                    if (offset < 0 || length < 0 || offset > mapped - length) {
                        throw new IllegalStateException("disk " + id + ": the reader asked for [" + offset + ", +" + length + ") of " + mapped + " bytes");
                    }
                    return m.address().getByteBuffer(offset, length);
                };
                reader.readDisk(id, sink, true, Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), bytes -> { });
            } finally {
                LibC.close(fd);
            }
            try (RandomAccessFile f = new RandomAccessFile(target.toFile(), "rw")) {
                f.setLength(size);
                f.getFD().sync();
            }
            ok = true;
        } finally {
            if (!ok) {
                Files.deleteIfExists(target);
            }
        }
    }
}
