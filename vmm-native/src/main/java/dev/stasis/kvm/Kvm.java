package dev.stasis.kvm;

import static dev.stasis.kvm.x86.KvmLayout.*;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.os.Errno;
import dev.stasis.os.LibC;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code /dev/kvm} system descriptor: API version, capabilities, host-supported CPUID and MSRs, and
 * the factory of VMs.
 */
public final class Kvm extends Fd {
    public static final String DEVICE = "/dev/kvm";
    /** System property naming another KVM device node (tests use it to simulate a host without KVM). */
    public static final String DEVICE_PROPERTY = "stasis.kvm.device";
    public static final int API_VERSION = 12;

    private Kvm(int fd) {
        super(fd);
    }

    /**
     * Opens {@code /dev/kvm} and checks the API version. Throws {@link KvmUnavailableException} with a
     * message that names the fix when KVM cannot be used here.
     */
    public static Kvm open() {
        return open(System.getProperty(DEVICE_PROPERTY, DEVICE));
    }

    public static Kvm open(String device) {
        int fd = LibC.open(device, LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) {
            int errno = Native.getLastError();
            String hint = switch (errno) {
                case Errno.ENOENT -> "KVM is not available on this host (load the kvm module, or enable virtualization)";
                case Errno.EACCES, Errno.EPERM -> "no permission: add your user to its group (usermod -aG " + group(device)
                        + " $USER, then log in again) or run as root";
                default -> "cannot open it";
            };
            throw new KvmUnavailableException(device + ": " + Errno.describe(errno) + ": " + hint);
        }
        Kvm kvm = new Kvm(fd);
        int version = kvm.ioctl(KvmIoctl.KVM_GET_API_VERSION, 0L, device);
        if (version != API_VERSION) {
            kvm.close();
            throw new KvmUnavailableException(device + ": KVM API version " + version + ", stasis needs " + API_VERSION);
        }
        return kvm;
    }

    /** The group owning {@code device} ({@code kvm} on most distributions), by name, for the permission hint. */
    private static String group(String device) {
        try {
            return java.nio.file.Files.readAttributes(java.nio.file.Path.of(device), java.nio.file.attribute.PosixFileAttributes.class)
                    .group().getName();
        } catch (java.io.IOException | RuntimeException e) {
            return "kvm";
        }
    }

    /** Whether /dev/kvm can be opened here; for tests that must skip without it. */
    public static boolean isAvailable() {
        return unavailabilityCause() == null;
    }

    /** Why KVM cannot be used here, or null when it can. */
    public static String unavailabilityCause() {
        try (Kvm kvm = open()) {
            return null;
        } catch (KvmUnavailableException e) {
            return e.getMessage();
        }
    }

    public int apiVersion() {
        return ioctl(KvmIoctl.KVM_GET_API_VERSION, 0L, DEVICE);
    }

    /** {@code KVM_CHECK_EXTENSION}: 0 when absent, otherwise a capability-specific positive value. */
    public int checkExtension(Capability cap) {
        return ioctl(KvmIoctl.KVM_CHECK_EXTENSION, cap.number, cap.name());
    }

    public boolean has(Capability cap) {
        return checkExtension(cap) > 0;
    }

    /** Throws {@link KvmUnavailableException} naming every missing capability. */
    public void require(Capability... caps) {
        List<String> missing = new ArrayList<>();
        for (Capability c : caps) {
            if (!has(c)) {
                missing.add("KVM_CAP_" + c.name());
            }
        }
        if (!missing.isEmpty()) {
            throw new KvmUnavailableException("this host's KVM lacks " + String.join(", ", missing));
        }
    }

    public int vcpuMmapSize() {
        return ioctl(KvmIoctl.KVM_GET_VCPU_MMAP_SIZE, 0L, DEVICE);
    }

    /** {@code KVM_GET_SUPPORTED_CPUID}: every leaf this host's KVM can present to a guest. */
    public List<CpuidEntry> supportedCpuid() {
        return readCpuid(this, KvmIoctl.KVM_GET_SUPPORTED_CPUID, "supported CPUID");
    }

    /** Issues a {@code kvm_cpuid2} query, growing the buffer while KVM answers E2BIG. */
    static List<CpuidEntry> readCpuid(Fd fd, KvmIoctl ioctl, String what) {
        for (int n = 128; ; n *= 2) {
            Memory m = new Memory(CPUID2_HEADER_SIZE + (long) n * CPUID_ENTRY_SIZE);
            m.clear();
            m.setInt(0, n);
            try {
                fd.ioctl(ioctl, m, what);
            } catch (KvmException e) {
                if (e.errno() == Errno.E2BIG && n < 4096) {
                    continue;
                }
                throw e;
            }
            int count = m.getInt(0);
            List<CpuidEntry> entries = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                entries.add(CpuidEntry.read(m, CPUID2_HEADER_SIZE + (long) i * CPUID_ENTRY_SIZE));
            }
            return entries;
        }
    }

    /** {@code KVM_GET_MSR_INDEX_LIST}: the MSRs a VMM must save and restore. */
    public int[] msrIndexList() {
        return msrList(KvmIoctl.KVM_GET_MSR_INDEX_LIST);
    }

    /** {@code KVM_GET_MSR_FEATURE_INDEX_LIST}: the feature MSRs (read with KVM_GET_MSRS on /dev/kvm). */
    public int[] msrFeatureIndexList() {
        return msrList(KvmIoctl.KVM_GET_MSR_FEATURE_INDEX_LIST);
    }

    private int[] msrList(KvmIoctl ioctl) {
        // First call with room for none: KVM answers E2BIG and writes the count it needs.
        checkOpen(ioctl, "MSR count");
        Memory probe = new Memory(MSR_LIST_HEADER_SIZE);
        probe.setInt(0, 0);
        int r = LibC.ioctl(fd(), ioctl.request, probe);
        if (r < 0 && Native.getLastError() != Errno.E2BIG) {
            throw new KvmException(ioctl, Native.getLastError(), "MSR count");
        }
        int n = probe.getInt(0);
        Memory m = new Memory(MSR_LIST_HEADER_SIZE + 4L * Math.max(n, 1));
        m.setInt(0, n);
        ioctl(ioctl, m, n + " MSRs");
        return m.getIntArray(MSR_LIST_HEADER_SIZE, m.getInt(0));
    }

    /** {@code KVM_CREATE_VM} with the default machine type. */
    public VmFd createVm() {
        int fd = ioctl(KvmIoctl.KVM_CREATE_VM, 0L, "machine type 0");
        return new VmFd(fd, vcpuMmapSize());
    }
}
