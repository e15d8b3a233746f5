package dev.stasis.uffd;

/**
 * The {@code <linux/userfaultfd.h>} numbers the bindings hard-code: structure sizes and field offsets,
 * the API version, features, register and ioctl modes, and event codes. {@code UffdLayoutTest} compiles a C
 * program against this machine's header and checks every public constant here, and every ioctl number in
 * {@link UffdIoctl}, against it.
 */
public final class UffdLayout {
    private UffdLayout() {}

    public static final long UFFD_API = 0xAA;

    // struct uffdio_api { u64 api; u64 features; u64 ioctls; }
    public static final int API_SIZE = 24;
    public static final int API_API = 0;
    public static final int API_FEATURES = 8;
    public static final int API_IOCTLS = 16;

    // struct uffdio_range { u64 start; u64 len; }
    public static final int RANGE_SIZE = 16;
    public static final int RANGE_START = 0;
    public static final int RANGE_LEN = 8;

    // struct uffdio_register { struct uffdio_range range; u64 mode; u64 ioctls; }
    public static final int REGISTER_SIZE = 32;
    public static final int REGISTER_MODE = 16;
    public static final int REGISTER_IOCTLS = 24;

    // struct uffdio_writeprotect { struct uffdio_range range; u64 mode; }
    public static final int WRITEPROTECT_SIZE = 24;
    public static final int WRITEPROTECT_MODE = 16;

    // struct uffdio_copy { u64 dst; u64 src; u64 len; u64 mode; s64 copy; }
    public static final int COPY_SIZE = 40;
    public static final int COPY_DST = 0;
    public static final int COPY_SRC = 8;
    public static final int COPY_LEN = 16;
    public static final int COPY_MODE = 24;
    public static final int COPY_COPY = 32;

    // struct uffdio_move { u64 dst; u64 src; u64 len; u64 mode; s64 move; } (Linux 6.8)
    public static final int MOVE_SIZE = 40;
    public static final int MOVE_DST = 0;
    public static final int MOVE_SRC = 8;
    public static final int MOVE_LEN = 16;
    public static final int MOVE_MODE = 24;
    public static final int MOVE_MOVE = 32;

    // struct uffdio_zeropage { struct uffdio_range range; u64 mode; s64 zeropage; }
    public static final int ZEROPAGE_SIZE = 32;
    public static final int ZEROPAGE_MODE = 16;
    public static final int ZEROPAGE_ZEROPAGE = 24;

    // struct uffd_msg (packed) { u8 event; u8 reserved1; u16 reserved2; u32 reserved3; union arg; }
    public static final int MSG_SIZE = 32;
    public static final int MSG_EVENT = 0;
    public static final int MSG_PAGEFAULT_FLAGS = 8;
    public static final int MSG_PAGEFAULT_ADDRESS = 16;
    public static final int MSG_PAGEFAULT_PTID = 24;

    public static final int UFFD_EVENT_PAGEFAULT = 0x12;
    public static final long UFFD_PAGEFAULT_FLAG_WRITE = 1L << 0;
    public static final long UFFD_PAGEFAULT_FLAG_WP = 1L << 1;

    public static final long UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1L << 0;
    public static final long UFFD_FEATURE_THREAD_ID = 1L << 8;
    public static final long UFFD_FEATURE_MOVE = 1L << 16;

    public static final long UFFDIO_REGISTER_MODE_MISSING = 1L << 0;
    public static final long UFFDIO_REGISTER_MODE_WP = 1L << 1;
    public static final long UFFDIO_WRITEPROTECT_MODE_WP = 1L << 0;
    public static final long UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1L << 1;
    public static final long UFFDIO_COPY_MODE_DONTWAKE = 1L << 0;
    public static final long UFFDIO_COPY_MODE_WP = 1L << 1;
    public static final long UFFDIO_ZEROPAGE_MODE_DONTWAKE = 1L << 0;
    public static final long UFFDIO_MOVE_MODE_DONTWAKE = 1L << 0;
    public static final long UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES = 1L << 1;

    /** Bit numbers of the ioctls a registered range allows (uffdio_register.ioctls). */
    public static final int _UFFDIO_WAKE = 0x02;
    public static final int _UFFDIO_COPY = 0x03;
    public static final int _UFFDIO_ZEROPAGE = 0x04;
    public static final int _UFFDIO_MOVE = 0x05;
    public static final int _UFFDIO_WRITEPROTECT = 0x06;
}
