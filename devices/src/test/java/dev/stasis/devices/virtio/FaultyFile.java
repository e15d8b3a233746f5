package dev.stasis.devices.virtio;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.LongPredicate;
import org.opentest4j.TestAbortedException;

/**
 * A one-file FUSE file system served from a byte array by this test JVM, speaking the kernel's protocol on
 * {@code /dev/fuse} itself (no libfuse), so that a disk image can fail the way a dying disk does: reads and writes of
 * the bytes {@link #failing} names, and syncs while {@link #failSyncs} is set, get EIO from the kernel. Every request
 * reaches this server (the file is opened direct-I/O: no page cache hides an error). Mounting needs root and
 * {@code /dev/fuse}; where either is missing the test is skipped, saying which.
 */
final class FaultyFile implements AutoCloseable {
    static final String NAME = "disk.img";
    private static final int ENOSYS = 38; // not among Errno's: only a FUSE server answers it
    private static final int LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, OPEN = 14, READ = 15, WRITE = 16, RELEASE = 18,
            FSYNC = 20, FLUSH = 25, INIT = 26, ACCESS = 34, INTERRUPT = 36, DESTROY = 38, BATCH_FORGET = 42;
    private static final long ROOT = 1, FILE = 2;
    private static final int MAX_WRITE = 128 << 10;
    private static final int IN_HEADER = 40, OUT_HEADER = 16, ATTR = 88;

    /** The mount system calls, which the project's LibC has no use for. */
    private static final class Mounts {
        static {
            Native.register(NativeLibrary.getInstance("c"));
        }

        static native int mount(String source, String target, String type, long flags, String data);

        static native int umount2(String target, int flags);
    }

    private final Path dir;
    private final byte[] content;
    private final int fd;
    private final Thread server;
    private volatile LongPredicate failing = offset -> false;
    final AtomicBoolean failSyncs = new AtomicBoolean();
    private volatile boolean closed;

    /** Mounts a file system at {@code dir} holding one file, {@link #NAME}, of {@code size} zero bytes. */
    static FaultyFile mount(Path dir, int size) throws IOException {
        if (!Files.exists(Path.of("/dev/fuse"))) {
            throw new TestAbortedException("no /dev/fuse on this host: a disk returning EIO is made with FUSE");
        }
        int fd = LibC.open("/dev/fuse", LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) {
            throw new TestAbortedException("cannot open /dev/fuse: " + LibC.strerror(Native.getLastError()));
        }
        String options = "fd=" + fd + ",rootmode=40000,user_id=0,group_id=0";
        if (Mounts.mount("stasis-faulty", dir.toString(), "fuse", 0x2 | 0x4 /* MS_NOSUID | MS_NODEV */, options) != 0) {
            int errno = Native.getLastError();
            LibC.close(fd);
            if (errno == Errno.EPERM) {
                throw new TestAbortedException("mounting a FUSE file system needs root: " + LibC.strerror(errno));
            }
            throw new IOException("mount of a FUSE file system at " + dir + " failed: " + LibC.strerror(errno));
        }
        return new FaultyFile(dir, new byte[size], fd);
    }

    private FaultyFile(Path dir, byte[] content, int fd) {
        this.dir = dir;
        this.content = content;
        this.fd = fd;
        this.server = new Thread(this::serve, "fuse " + dir);
        server.setDaemon(true);
        server.start();
    }

    Path path() {
        return dir.resolve(NAME);
    }

    /** From now on a read or write touching a byte at an offset {@code failing} accepts fails with EIO. */
    void failing(LongPredicate failing) {
        this.failing = failing;
    }

    private void serve() {
        Memory in = new Memory(MAX_WRITE + 64 * 1024);
        while (!closed) {
            long n = LibC.read(fd, in, in.size());
            if (n < 0) {
                int errno = Native.getLastError();
                if (errno == Errno.EINTR || errno == Errno.ENOENT /* a request the kernel took back */) {
                    continue;
                }
                return; // ENODEV: unmounted
            }
            int opcode = in.getInt(4);
            long unique = in.getLong(8);
            long node = in.getLong(16);
            try {
                if (!answer(in, opcode, unique, node)) {
                    return;
                }
            } catch (RuntimeException e) {
                reply(unique, -Errno.EIO, null, 0); // a request this server could not answer fails, rather than waits for ever
            }
        }
    }

    /** Answers one request; false after DESTROY. */
    private boolean answer(Memory in, int opcode, long unique, long node) {
        switch (opcode) {
            case INIT -> {
                Memory out = new Memory(64);
                out.clear();
                out.setInt(0, 7); // protocol 7.31: the fields below, no optional feature asked for
                out.setInt(4, 31);
                out.setInt(8, in.getInt(IN_HEADER + 8)); // max_readahead as offered
                out.setInt(20, MAX_WRITE);
                out.setShort(28, (short) (MAX_WRITE / 4096));
                reply(unique, 0, out, 64);
            }
            case LOOKUP -> {
                if (node == ROOT && NAME.equals(in.getString(IN_HEADER))) {
                    Memory out = new Memory(40 + ATTR);
                    out.clear();
                    out.setLong(0, FILE);
                    attr(out, 40, FILE);
                    reply(unique, 0, out, 40 + ATTR);
                } else {
                    reply(unique, -Errno.ENOENT, null, 0);
                }
            }
            case GETATTR, SETATTR -> {
                Memory out = new Memory(16 + ATTR);
                out.clear();
                attr(out, 16, node);
                reply(unique, 0, out, 16 + ATTR);
            }
            case OPEN -> {
                Memory out = new Memory(16);
                out.clear();
                out.setInt(8, 1); // FOPEN_DIRECT_IO: every read and write comes here
                reply(unique, 0, out, 16);
            }
            case READ -> {
                long offset = in.getLong(IN_HEADER + 8);
                int size = in.getInt(IN_HEADER + 16);
                int length = (int) Math.max(0, Math.min(size, content.length - offset));
                if (touchesFailing(offset, length)) {
                    reply(unique, -Errno.EIO, null, 0);
                } else {
                    Memory out = new Memory(Math.max(1, length));
                    if (length > 0) {
                        out.write(0, content, (int) offset, length);
                    }
                    reply(unique, 0, out, length);
                }
            }
            case WRITE -> {
                long offset = in.getLong(IN_HEADER + 8);
                int size = in.getInt(IN_HEADER + 16);
                if (touchesFailing(offset, size) || offset + size > content.length) {
                    reply(unique, -Errno.EIO, null, 0);
                } else {
                    in.read(IN_HEADER + 40, content, (int) offset, size);
                    Memory out = new Memory(8);
                    out.clear();
                    out.setInt(0, size);
                    reply(unique, 0, out, 8);
                }
            }
            case FSYNC -> reply(unique, failSyncs.get() ? -Errno.EIO : 0, null, 0);
            case FLUSH, RELEASE, ACCESS -> reply(unique, 0, null, 0);
            case FORGET, BATCH_FORGET, INTERRUPT -> { } // answered by no reply
            case DESTROY -> {
                reply(unique, 0, null, 0);
                return false;
            }
            default -> reply(unique, -ENOSYS, null, 0);
        }
        return true;
    }

    private boolean touchesFailing(long offset, long length) {
        LongPredicate f = failing;
        for (long at = offset; at < offset + Math.max(1, length); at += 512) {
            if (f.test(at)) {
                return true;
            }
        }
        return f.test(offset + Math.max(1, length) - 1);
    }

    /** struct fuse_attr at {@code at}: the root directory or the file. */
    private void attr(Memory out, int at, long node) {
        out.setLong(at, node);
        out.setLong(at + 8, node == FILE ? content.length : 0);
        out.setLong(at + 16, node == FILE ? (content.length + 511) / 512 : 0);
        out.setInt(at + 60, node == FILE ? 0100644 : 040755);
        out.setInt(at + 64, 1); // nlink
        out.setInt(at + 80, 4096); // blksize
    }

    private void reply(long unique, int error, Memory payload, int length) {
        Memory out = new Memory(OUT_HEADER + Math.max(length, 0) + 1);
        out.setInt(0, OUT_HEADER + length);
        out.setInt(4, error);
        out.setLong(8, unique);
        if (length > 0) {
            out.write(OUT_HEADER, payload.getByteArray(0, length), 0, length);
        }
        LibC.write(fd, out, OUT_HEADER + length); // a request interrupted meanwhile refuses its answer: nothing to do
    }

    @Override
    public void close() throws InterruptedException {
        closed = true;
        Mounts.umount2(dir.toString(), 2 /* MNT_DETACH */);
        server.join(5000);
        if (!server.isAlive()) {
            LibC.close(fd); // never under a server that could still read a reused descriptor number
        }
    }
}
