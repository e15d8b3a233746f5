package dev.stasis.kvm;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.kvm.x86.CpuidEntry;
import dev.stasis.kvm.x86.KvmLayout;
import dev.stasis.kvm.x86.MsrEntry;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The /dev/kvm descriptor's ioctls on the real device. */
@RequiresKvm
class KvmSystemTest {
    @Test
    void apiVersionIs12() {
        try (Kvm kvm = Kvm.open()) {
            assertEquals(Kvm.API_VERSION, kvm.apiVersion());
            assertEquals(12, kvm.apiVersion());
            assertTrue(Kvm.isAvailable());
            assertNull(Kvm.unavailabilityCause());
        }
    }

    @Test
    void capabilitiesTheVmmNeedsArePresentAndCountsAreSane() {
        try (Kvm kvm = Kvm.open()) {
            for (Capability cap : Capability.values()) {
                assertTrue(kvm.checkExtension(cap) >= 0, cap.name());
            }
            kvm.require(Capability.IRQCHIP, Capability.USER_MEMORY, Capability.SET_TSS_ADDR, Capability.EXT_CPUID,
                    Capability.MP_STATE, Capability.PIT2, Capability.VCPU_EVENTS, Capability.NR_VCPUS, Capability.NR_MEMSLOTS);
            int nr = kvm.checkExtension(Capability.NR_VCPUS);
            int max = kvm.checkExtension(Capability.MAX_VCPUS);
            assertTrue(nr >= 1, "NR_VCPUS " + nr);
            assertTrue(max == 0 || max >= nr, "MAX_VCPUS " + max + " < NR_VCPUS " + nr);
            assertTrue(kvm.checkExtension(Capability.NR_MEMSLOTS) >= 32);
            int xsave2 = kvm.checkExtension(Capability.XSAVE2);
            assertTrue(xsave2 == 0 || xsave2 >= KvmLayout.XSAVE_SIZE, "KVM_CAP_XSAVE2 size " + xsave2);
        }
    }

    @Test
    void requireNamesEveryMissingCapability() {
        try (Kvm kvm = Kvm.open()) {
            List<Capability> missing = Arrays.stream(Capability.values()).filter(c -> !kvm.has(c)).toList();
            if (missing.isEmpty()) {
                return;
            }
            KvmUnavailableException e = assertThrows(KvmUnavailableException.class,
                    () -> kvm.require(missing.toArray(Capability[]::new)));
            for (Capability c : missing) {
                assertTrue(e.getMessage().contains("KVM_CAP_" + c.name()), e.getMessage());
            }
        }
    }

    @Test
    void supportedCpuidHasLeaves0And1() {
        try (Kvm kvm = Kvm.open()) {
            List<CpuidEntry> cpuid = kvm.supportedCpuid();
            assertFalse(cpuid.isEmpty());
            CpuidEntry leaf0 = cpuid.stream().filter(e -> e.function() == 0).findFirst().orElseThrow(() -> new AssertionError("no leaf 0"));
            assertTrue(leaf0.eax() >= 1, "max basic leaf " + leaf0.eax());
            assertTrue(cpuid.stream().anyMatch(e -> e.function() == 1), "no leaf 1");
            assertTrue(cpuid.stream().anyMatch(e -> e.function() == 0x80000000), "no leaf 0x80000000");
        }
    }

    @Test
    void msrIndexListHoldsTheTsc() {
        try (Kvm kvm = Kvm.open()) {
            int[] msrs = kvm.msrIndexList();
            assertTrue(msrs.length > 0);
            assertTrue(Arrays.stream(msrs).anyMatch(i -> i == MsrEntry.IA32_TSC), "IA32_TSC (0x10) missing from " + Arrays.toString(msrs));
            assertEquals(msrs.length, Arrays.stream(msrs).distinct().count(), "duplicates in the MSR list");
            kvm.msrFeatureIndexList(); // may be empty, must not fail
        }
    }

    @Test
    void vcpuMmapSizeHoldsTheRunPage() {
        try (Kvm kvm = Kvm.open()) {
            int size = kvm.vcpuMmapSize();
            assertTrue(size >= 4096, "vcpu mmap size " + size);
            assertTrue(size >= KvmLayout.RUN_SIZE);
        }
    }

    @Test
    void aMissingDeviceIsUnavailableWithAReason() {
        KvmUnavailableException e = assertThrows(KvmUnavailableException.class, () -> Kvm.open("/dev/kvm-does-not-exist"));
        assertTrue(e.getMessage().contains("ENOENT"), e.getMessage());
    }
}
