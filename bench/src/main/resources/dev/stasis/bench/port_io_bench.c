/*
 * The C side of PortIoBench: the same guest as the Java side (an `out %al,(%dx)` loop to port 0xf0,
 * unrolled 8 times, then `out %al,$0xf4`), set up the same way as stasis' Vm + FlatLoader (in-kernel irqchip
 * and PIT, one 16 MiB slot with dirty logging, long mode entered through SREGS, supported CPUID), driven by
 * raw KVM_RUN. Usage: port_io_bench <exits> <rounds> <getpid calls>.
 * Prints "exit_ns <ns per exit>" per round (after one warm-up round), then "getpid_ns <ns per call>" per round.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RAM_SIZE (16UL << 20)
#define LOAD 0x100000UL
#define STACK_TOP 0x80000UL

static void die(const char *what) {
    perror(what);
    exit(1);
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static const unsigned char GUEST[] = {
    0xb9, 0, 0, 0, 0,                               /* mov $iterations,%ecx */
    0x66, 0xba, 0xf0, 0x00,                         /* mov $0xf0,%dx */
    0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, /* 1: out %al,(%dx) x 8 */
    0xff, 0xc9,                                     /* dec %ecx */
    0x75, 0xf4,                                     /* jnz 1b */
    0xe6, 0xf4,                                     /* out %al,$0xf4 */
    0xf4, 0xeb, 0xfd,                               /* 2: hlt; jmp 2b */
};

static void segment(struct kvm_segment *s, uint16_t selector, int code) {
    memset(s, 0, sizeof(*s));
    s->base = 0;
    s->limit = 0xffffffff;
    s->selector = selector;
    s->type = code ? 11 : 3;
    s->present = 1;
    s->s = 1;
    s->l = code;
    s->db = !code;
    s->g = 1;
}

/* One VM per round, as the Java side does; returns ns per exit from the first 0xf0 exit to the 0xf4 exit. */
static double round_ns(int kvm, long exits) {
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0) die("KVM_SET_TSS_ADDR");
    uint64_t idmap = 0xfffbc000UL;
    if (ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) die("KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) die("KVM_CREATE_PIT2");

    unsigned char *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    struct kvm_userspace_memory_region region = {
        .slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
        .userspace_addr = (uint64_t) ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");

    /* GDT at 0x500, identity page tables (2 MiB pages) at 0x1000, code at 1 MiB: FlatLoader's layout. */
    uint64_t *gdt = (uint64_t *) (ram + 0x500);
    gdt[0] = 0;
    gdt[1] = 0x00af9b000000ffffUL;
    gdt[2] = 0x00cf93000000ffffUL;
    gdt[3] = 0x00cf9b000000ffffUL;
    uint64_t *pml4 = (uint64_t *) (ram + 0x1000), *pdpt = (uint64_t *) (ram + 0x2000), *pd = (uint64_t *) (ram + 0x3000);
    pml4[0] = 0x2000 | 3;
    pdpt[0] = 0x3000 | 3;
    for (int i = 0; i < 512; i++) pd[i] = ((uint64_t) i << 21) | 0x83;
    memcpy(ram + LOAD, GUEST, sizeof(GUEST));
    uint32_t iterations = (uint32_t) (exits / 8);
    memcpy(ram + LOAD + 1, &iterations, 4);

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int n = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof(*cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = n;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0) die("KVM_SET_CPUID2");
    free(cpuid);

    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    segment(&sregs.cs, 0x08, 1);
    segment(&sregs.ds, 0x10, 0);
    sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
    sregs.gdt.base = 0x500;
    sregs.gdt.limit = 31;
    sregs.cr0 = 0x80010033; /* PE MP ET NE WP PG */
    sregs.cr3 = 0x1000;
    sregs.cr4 = 0x620;      /* PAE OSFXSR OSXMMEXCPT */
    sregs.efer = 0x500;     /* LME LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = LOAD, .rsp = STACK_TOP, .rflags = 2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");

    long first = 0, seen = 0;
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            exit(1);
        }
        if (run->io.port == 0xf0) {
            /* what a trivial device does: read the byte */
            volatile unsigned char v = *((unsigned char *) run + run->io.data_offset);
            (void) v;
            if (seen++ == 0) first = now_ns();
        } else if (run->io.port == 0xf4) {
            break;
        }
    }
    long end = now_ns();
    munmap(run, run_size);
    close(vcpu);
    close(vm);
    munmap(ram, RAM_SIZE);
    return (double) (end - first) / (double) seen;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s <exits> <rounds> <getpid calls>\n", argv[0]);
        return 2;
    }
    long exits = atol(argv[1]);
    int rounds = atoi(argv[2]);
    long calls = atol(argv[3]);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    round_ns(kvm, exits / 4); /* warm-up */
    for (int r = 0; r < rounds; r++) printf("exit_ns %.1f\n", round_ns(kvm, exits));
    for (long i = 0; i < calls / 10; i++) getpid(); /* warm-up */
    for (int r = 0; r < rounds; r++) {
        long t0 = now_ns();
        for (long i = 0; i < calls; i++) getpid();
        printf("getpid_ns %.1f\n", (double) (now_ns() - t0) / (double) calls);
    }
    return 0;
}
