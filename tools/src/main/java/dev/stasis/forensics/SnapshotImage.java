package dev.stasis.forensics;

import dev.stasis.forensics.x86.ControlRegisters;
import dev.stasis.forensics.x86.PageWalker;
import dev.stasis.forensics.x86.VirtualMemory;
import dev.stasis.snapshot.container.SectionInfo;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.snapshot.state.StateRecord;
import dev.stasis.snapshot.state.StructSchema;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongConsumer;

/**
 * A snapshot file opened for forensics: its sections by name through the file's own schemas (no device classes,
 * so files of other builds read too), its vCPUs, and its RAM loaded once on first use.
 */
public final class SnapshotImage implements AutoCloseable {
    public static final int CPUID_ADDRESS_SIZES = 0x8000_0008;

    private final SnapshotReader reader;
    private SnapshotMemory memory;

    private SnapshotImage(SnapshotReader reader) {
        this.reader = reader;
    }

    public static SnapshotImage open(Path file) throws IOException {
        return new SnapshotImage(SnapshotReader.open(file));
    }

    public SnapshotReader reader() {
        return reader;
    }

    public Path path() {
        return reader.path();
    }

    /** vCPU sections are numbered 0..n-1. */
    public int vcpuCount() {
        return (int) reader.sections().stream().filter(s -> s.name().equals("vcpu")).count();
    }

    public StateRecord vcpu(int index) {
        checkVcpu(index);
        return reader.record("vcpu", index);
    }

    public void checkVcpu(int index) {
        int n = vcpuCount();
        if (index < 0 || index >= n) {
            throw new ForensicsException("vCPU " + index + " does not exist: " + path() + " holds " + n + " vCPU" + (n == 1 ? "" : "s")
                    + (n == 0 ? "" : " (0.." + (n - 1) + ")"));
        }
    }

    /** The file's schema of section {@code name#instance}, or null. */
    public StructSchema schema(String name, int instance) {
        return reader.sections().stream().filter(s -> s.name().equals(name) && s.instance() == instance)
                .map(SectionInfo::schema).findFirst().orElse(null);
    }

    /** Guest RAM, decompressed on first call; {@code progress} gets bytes as chunks are read. */
    public synchronized SnapshotMemory memory(LongConsumer progress) throws IOException {
        if (memory == null) {
            memory = SnapshotMemory.load(reader, progress);
        }
        return memory;
    }

    public long memoryBytes() {
        return reader.memoryMap() == null ? 0 : reader.memoryMap().totalBytes();
    }

    /** vCPU {@code index}'s linear address space. */
    public VirtualMemory virtualMemory(int index, LongConsumer progress) throws IOException {
        StateRecord vcpu = vcpu(index);
        return new VirtualMemory(memory(progress), new PageWalker(memory(progress), maxPhysBits(vcpu)),
                ControlRegisters.of(vcpu.getStruct("sregs")));
    }

    /** MAXPHYADDR from the vCPU's CPUID leaf 0x80000008 when the file has it, else 52 (no address bit reserved). */
    static int maxPhysBits(StateRecord vcpu) {
        if (vcpu.has("cpuid")) {
            for (StateRecord e : vcpu.getList("cpuid")) {
                if (e.getLong("function") == CPUID_ADDRESS_SIZES) {
                    int bits = (int) (e.getLong("eax") & 0xff);
                    if (bits >= 32 && bits <= 52) {
                        return bits;
                    }
                }
            }
        }
        return 52;
    }

    @Override
    public void close() throws IOException {
        if (memory != null) {
            memory.close();
        }
        reader.close();
    }
}
