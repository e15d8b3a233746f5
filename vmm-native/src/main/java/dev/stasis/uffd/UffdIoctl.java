package dev.stasis.uffd;

import static dev.stasis.uffd.UffdLayout.*;

import dev.stasis.os.IoctlNumber;

/**
 * Every userfaultfd ioctl stasis issues, encoded from the {@code _IO/_IOR/_IOWR} rules and the structure sizes
 * in {@link UffdLayout}, checked against {@code <linux/userfaultfd.h>} by the layout test.
 */
public enum UffdIoctl {
    /** On /dev/userfaultfd (Linux 6.1): a new userfaultfd; the argument is its open flags. */
    USERFAULTFD_IOC_NEW(io(0x00)),
    UFFDIO_API(iowr(0x3F, API_SIZE)),
    UFFDIO_REGISTER(iowr(0x00, REGISTER_SIZE)),
    UFFDIO_UNREGISTER(ior(0x01, RANGE_SIZE)),
    UFFDIO_WAKE(ior(0x02, RANGE_SIZE)),
    UFFDIO_COPY(iowr(0x03, COPY_SIZE)),
    UFFDIO_ZEROPAGE(iowr(0x04, ZEROPAGE_SIZE)),
    UFFDIO_MOVE(iowr(0x05, MOVE_SIZE)),
    UFFDIO_WRITEPROTECT(iowr(0x06, WRITEPROTECT_SIZE));

    private static final int UFFDIO = 0xAA;

    /** The request number passed to ioctl(2). */
    public final long request;

    UffdIoctl(long request) {
        this.request = request;
    }

    private static long io(int nr) { return IoctlNumber.io(UFFDIO, nr); }
    private static long ior(int nr, int size) { return IoctlNumber.ior(UFFDIO, nr, size); }
    private static long iowr(int nr, int size) { return IoctlNumber.iowr(UFFDIO, nr, size); }
}
