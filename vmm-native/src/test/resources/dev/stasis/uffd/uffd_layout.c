/*
 * Prints what the machine's <linux/userfaultfd.h> (and <linux/version.h>) say about every userfaultfd
 * number stasis hard-codes: "const <JAVA NAME> <n>" for the constants, sizes and offsets of UffdLayout,
 * "ioctl <NAME> 0x<hex>" for UffdIoctl.
 * UffdLayoutTest compiles it with gcc and compares each line with the Java side.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>

/*
 * UFFDIO_MOVE came with Linux 6.8; older headers (Debian 12's are 6.1) lack it, so its uAPI is spelled out here as
 * 6.8 defines it, and checked against the header wherever the header has it.
 */
#ifndef UFFD_FEATURE_MOVE
#include <linux/types.h>
#define UFFD_FEATURE_MOVE (1 << 16)
#define _UFFDIO_MOVE (0x05)
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64) 1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64) 1 << 1)
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

#define CONST(n) printf("const %s %lld\n", #n, (long long) (n))
#define AS(java, expr) printf("const %s %lld\n", java, (long long) (expr))
#define IOCTL(n) printf("ioctl %s 0x%lx\n", #n, (unsigned long) (n))

int main(void) {
    CONST(UFFD_API);

    AS("API_SIZE", sizeof(struct uffdio_api));
    AS("API_API", offsetof(struct uffdio_api, api));
    AS("API_FEATURES", offsetof(struct uffdio_api, features));
    AS("API_IOCTLS", offsetof(struct uffdio_api, ioctls));

    AS("RANGE_SIZE", sizeof(struct uffdio_range));
    AS("RANGE_START", offsetof(struct uffdio_range, start));
    AS("RANGE_LEN", offsetof(struct uffdio_range, len));

    AS("REGISTER_SIZE", sizeof(struct uffdio_register));
    AS("REGISTER_MODE", offsetof(struct uffdio_register, mode));
    AS("REGISTER_IOCTLS", offsetof(struct uffdio_register, ioctls));

    AS("WRITEPROTECT_SIZE", sizeof(struct uffdio_writeprotect));
    AS("WRITEPROTECT_MODE", offsetof(struct uffdio_writeprotect, mode));

    AS("COPY_SIZE", sizeof(struct uffdio_copy));
    AS("COPY_DST", offsetof(struct uffdio_copy, dst));
    AS("COPY_SRC", offsetof(struct uffdio_copy, src));
    AS("COPY_LEN", offsetof(struct uffdio_copy, len));
    AS("COPY_MODE", offsetof(struct uffdio_copy, mode));
    AS("COPY_COPY", offsetof(struct uffdio_copy, copy));

    AS("MOVE_SIZE", sizeof(struct uffdio_move));
    AS("MOVE_DST", offsetof(struct uffdio_move, dst));
    AS("MOVE_SRC", offsetof(struct uffdio_move, src));
    AS("MOVE_LEN", offsetof(struct uffdio_move, len));
    AS("MOVE_MODE", offsetof(struct uffdio_move, mode));
    AS("MOVE_MOVE", offsetof(struct uffdio_move, move));

    AS("ZEROPAGE_SIZE", sizeof(struct uffdio_zeropage));
    AS("ZEROPAGE_MODE", offsetof(struct uffdio_zeropage, mode));
    AS("ZEROPAGE_ZEROPAGE", offsetof(struct uffdio_zeropage, zeropage));

    AS("MSG_SIZE", sizeof(struct uffd_msg));
    AS("MSG_EVENT", offsetof(struct uffd_msg, event));
    AS("MSG_PAGEFAULT_FLAGS", offsetof(struct uffd_msg, arg.pagefault.flags));
    AS("MSG_PAGEFAULT_ADDRESS", offsetof(struct uffd_msg, arg.pagefault.address));
    AS("MSG_PAGEFAULT_PTID", offsetof(struct uffd_msg, arg.pagefault.feat.ptid));

    CONST(UFFD_EVENT_PAGEFAULT);
    CONST(UFFD_PAGEFAULT_FLAG_WRITE);
    CONST(UFFD_PAGEFAULT_FLAG_WP);
    CONST(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
    CONST(UFFD_FEATURE_THREAD_ID);
    CONST(UFFD_FEATURE_MOVE);
    CONST(UFFDIO_REGISTER_MODE_MISSING);
    CONST(UFFDIO_REGISTER_MODE_WP);
    CONST(UFFDIO_WRITEPROTECT_MODE_WP);
    CONST(UFFDIO_WRITEPROTECT_MODE_DONTWAKE);
    CONST(UFFDIO_COPY_MODE_DONTWAKE);
    CONST(UFFDIO_COPY_MODE_WP);
    CONST(UFFDIO_ZEROPAGE_MODE_DONTWAKE);
    CONST(UFFDIO_MOVE_MODE_DONTWAKE);
    CONST(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES);
    CONST(_UFFDIO_WAKE);
    CONST(_UFFDIO_COPY);
    CONST(_UFFDIO_ZEROPAGE);
    CONST(_UFFDIO_MOVE);
    CONST(_UFFDIO_WRITEPROTECT);

    IOCTL(USERFAULTFD_IOC_NEW);
    IOCTL(UFFDIO_API);
    IOCTL(UFFDIO_REGISTER);
    IOCTL(UFFDIO_UNREGISTER);
    IOCTL(UFFDIO_WAKE);
    IOCTL(UFFDIO_COPY);
    IOCTL(UFFDIO_ZEROPAGE);
    IOCTL(UFFDIO_MOVE);
    IOCTL(UFFDIO_WRITEPROTECT);
    return 0;
}
