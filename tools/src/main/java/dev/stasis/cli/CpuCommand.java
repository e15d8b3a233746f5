package dev.stasis.cli;

import dev.stasis.arch.x86.TscRate;
import dev.stasis.arch.x86.VcpuState;
import dev.stasis.arch.x86.cpu.CpuCompatibility;
import dev.stasis.arch.x86.cpu.CpuModel;
import dev.stasis.arch.x86.cpu.CpuModels;
import dev.stasis.arch.x86.cpu.CpuidBuilder;
import dev.stasis.arch.x86.cpu.HostCpu;
import dev.stasis.kvm.Capability;
import dev.stasis.kvm.Kvm;
import dev.stasis.kvm.VcpuFd;
import dev.stasis.kvm.VmFd;
import dev.stasis.snapshot.container.SnapshotReader;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmConfigSection;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code stasis cpu models} and {@code stasis cpu check FILE}: which CPUs a guest can have, and whether this host can run a snapshot. */
@Command(name = "cpu", mixinStandardHelpOptions = true, description = "CPU models, and whether this host can run a snapshot's CPU",
        subcommands = {CpuCommand.Models.class, CpuCommand.Check.class})
final class CpuCommand {
    @Command(name = "models", mixinStandardHelpOptions = true,
            description = "List the built-in CPU models (--cpu-model of 'stasis run'), and whether this host can present each")
    static final class Models implements Callable<Integer> {
        @Override
        public Integer call() {
            HostCpu host = null;
            if (Kvm.isAvailable()) {
                try (Kvm kvm = Kvm.open()) {
                    host = HostCpu.of(kvm);
                } catch (RuntimeException e) {
                    // listing needs no KVM; the "here" column is left out
                }
            }
            for (CpuModel m : CpuModels.BUILT_IN) {
                String here = "";
                if (host != null) {
                    List<String> p = CpuCompatibility.problems(CpuidBuilder.build(m.resolve(host), host, 0, 1), host);
                    here = p.isEmpty() ? "  [runs here]" : "  [not here: " + String.join("; ", p).replace("features this host cannot give a guest: ", "lacks ") + "]";
                }
                System.out.printf("%-10s %-12s %s%s%s%n", m.name(), m.portable() ? "portable" : "not portable", m.description(),
                        m.name().equals(CpuModels.DEFAULT) ? " (default)" : "", here);
            }
            System.out.println("or a custom model: --cpu-model ./mycpu.json (docs/cpu-models.md)");
            return 0;
        }
    }

    @Command(name = "check", mixinStandardHelpOptions = true,
            description = {"Say whether this host can run the guest in a snapshot file, and if not, exactly why.",
                    "Exit 0: it can; 1: it cannot; 2: trouble (no such file, not a snapshot, no KVM)."})
    static final class Check implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
        Path file;

        @Override
        public Integer call() throws Exception {
            VmConfig config;
            List<VcpuState> vcpus = new ArrayList<>();
            try (SnapshotReader reader = SnapshotReader.open(file)) {
                config = reader.load(VmConfigSection.DESCRIPTION, 0);
                for (int i = 0; i < config.vcpus(); i++) {
                    vcpus.add(reader.load(VcpuState.DESCRIPTION, i));
                }
            }
            try (Kvm kvm = Kvm.open()) {
                HostCpu host = HostCpu.of(kvm);
                Set<String> problems = new LinkedHashSet<>();
                for (VcpuState v : vcpus) {
                    problems.addAll(CpuCompatibility.problems(v.cpuid(), host));
                }
                String what = file + " (CPU " + config.cpu().describe() + ", " + config.vcpus() + " vCPUs)";
                if (!problems.isEmpty()) {
                    System.out.println("no: this host cannot run " + what + ": the guest's CPU needs");
                    problems.forEach(p -> System.out.println("  - " + p));
                    return 1;
                }
                System.out.println("yes: this host can run " + what);
                long saved = vcpus.get(0).tscKhz(), here = hostTscKhz(kvm);
                if (saved != 0 && !TscRate.withinTolerance(saved, here)) {
                    System.out.println("  note: " + TscRate.note(saved, here, kvm.has(Capability.TSC_CONTROL)
                            ? "will scale it if the hardware allows (KVM_CAP_TSC_CONTROL)" : "cannot scale it (no KVM_CAP_TSC_CONTROL)"));
                }
                return 0;
            }
        }

        private static long hostTscKhz(Kvm kvm) {
            try (VmFd vm = kvm.createVm(); VcpuFd vcpu = vm.createVcpu(0)) {
                return vcpu.getTscKhz();
            }
        }
    }
}
