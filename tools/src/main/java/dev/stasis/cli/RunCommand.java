package dev.stasis.cli;

import dev.stasis.arch.x86.cpu.CpuFeature;
import dev.stasis.arch.x86.cpu.CpuModels;
import dev.stasis.arch.x86.cpu.GuestCpu;
import dev.stasis.arch.x86.cpu.HostCpu;
import dev.stasis.kvm.Kvm;
import dev.stasis.devices.debugexit.ExitPort;
import dev.stasis.devices.virtio.blk.DiskSpec;
import dev.stasis.fixtures.Guests;
import dev.stasis.loader.multiboot.Module;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.machine.VirtioSlots;
import dev.stasis.memory.MemoryLayout;
import dev.stasis.memory.RamBacking;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code stasis run}: boots a fixture guest or an image file with the UART on the terminal, and exits
 * with the guest's status. Ctrl-C stops the VM cleanly (status 130).
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run a test guest by name (@|bold hello|@, @|bold ticker|@, @|bold dirtier|@, ...) or an image file:",
                "an ELF64 executable, a Linux vmlinux or bzImage (booted through PVH), a Multiboot 1 or 2 kernel, or a flat .bin image.",
                "The guest's serial console (COM1) is joined to this terminal."})
final class RunCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "GUEST|FILE", description = "a fixture guest name or an image file")
    String guest;

    @Parameters(index = "1..*", paramLabel = "KEY=VALUE", description = "guest parameters: by name for a fixture guest; for a flat or ELF image file, the values fill its parameter block in the order given")
    List<String> guestParams = new ArrayList<>();

    @Option(names = "--mem", paramLabel = "SIZE", converter = SizeConverter.class, defaultValue = "128M",
            description = "guest RAM (default ${DEFAULT-VALUE}); RAM above 3 GiB is placed above 4 GiB")
    long memory;

    @Option(names = "--cpus", paramLabel = "N", defaultValue = "1", description = "vCPUs (default ${DEFAULT-VALUE})")
    int cpus;

    @Option(names = "--load", paramLabel = "FILE@GPA",
            description = "copy FILE into guest RAM at guest-physical address GPA (repeatable)")
    List<String> loads = new ArrayList<>();

    @Option(names = "--boot", paramLabel = "KIND", defaultValue = "AUTO",
            description = "how to boot a file: ${COMPLETION-CANDIDATES} (default: by its contents)")
    BootSource.Kind boot;

    @Option(names = "--cmdline", paramLabel = "TEXT",
            description = "kernel command line (Linux: default console=ttyS0; a Multiboot kernel gets its file name, then TEXT, as QEMU and GRUB give it)")
    String cmdline;

    @Option(names = "--initrd", paramLabel = "FILE", description = "Linux initial ramdisk")
    Path initrd;

    @Option(names = "--module", paramLabel = "FILE[,STRING]",
            description = "a Multiboot boot module (repeatable), with the string the kernel gets for it (default: the file name)")
    List<String> modules = new ArrayList<>();

    @Option(names = "--exit-port", paramLabel = "CONVENTION", defaultValue = "STASIS",
            description = "what a write to port 0xf4 means: stasis (exit with the value) or qemu (QEMU's isa-debug-exit: (value << 1) | 1); default stasis")
    ExitPort.Convention exitPort;

    @Option(names = "--disk", paramLabel = "PATH[,readonly][,id=NAME]",
            description = {"a raw disk image as a virtio-blk device on virtio-mmio (repeatable; slot order as given).",
                    "A Linux kernel gets the virtio_mmio.device= parameters for each on its command line."})
    List<String> disks = new ArrayList<>();

    @Option(names = "--api-socket", paramLabel = "PATH", description = "serve the control socket (snapshot, pause, resume, status, stop) at PATH")
    Path apiSocket;

    @Option(names = "--cpu-model", paramLabel = "NAME|FILE", defaultValue = CpuModels.DEFAULT,
            description = "the guest's CPU: host, x86-64-v2, x86-64-v3, x86-64-v4 or a JSON model file (default ${DEFAULT-VALUE}; 'stasis cpu models')")
    String cpuModel;

    @Option(names = "--cpuid-mask", paramLabel = "FEATURE", split = ",",
            description = "hide CPU features of the model from the guest, e.g. cx16,xsave (and every feature that needs them)")
    List<String> masked = new ArrayList<>();

    @Mixin
    CrashDumpOptions crashDump = new CrashDumpOptions();

    @Mixin
    JailOptions jail = new JailOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        crashDump.dump(); // refuse conflicting options before booting
        jail.enterIfAsked(spec, inputFiles());
        Plan plan = plan();
        OutputStream console = new FileOutputStream(FileDescriptor.out);
        VmExit exit;
        do {
            exit = ForegroundVm.run(plan.boot(console), apiSocket, crashDump.dump());
        } while (exit.kind() == VmExit.Kind.RESET);
        ForegroundVm.report(exit);
        return exit.processStatus();
    }

    /** What these options boot: the machine's configuration, the guest and the files loaded beside it. */
    record Plan(VmConfig config, BootSource source, List<Load> preloads, List<DiskSpec> disks) {
        /** A machine booted from the plan, not started; its console writes to {@code console}. */
        Machine boot(OutputStream console) throws Exception {
            Machine machine = Machine.create(config, console, RamBacking.ZERO, disks);
            try {
                for (Load l : preloads) {
                    machine.loadFile(l.file(), l.gpa());
                }
                machine.boot(source);
                return machine;
            } catch (Exception e) {
                machine.close();
                throw e;
            }
        }
    }

    /** Reads and checks the guest and every file the options name; throws for unusable input. */
    Plan plan() throws Exception {
        List<DiskSpec> diskSpecs = new ArrayList<>();
        for (String d : disks) {
            diskSpecs.add(DiskSpec.parse(d, diskSpecs.size()));
        }
        if (diskSpecs.stream().map(DiskSpec::id).distinct().count() != diskSpecs.size()) {
            throw new IllegalArgumentException("two --disk options have the same id: give each its own id=NAME");
        }
        BootSource source = bootSource();
        for (int slot = 0; slot < diskSpecs.size(); slot++) {
            source = source.withLinuxParameters(VirtioSlots.linuxParameter(slot));
        }
        if (!modules.isEmpty() && !(source instanceof BootSource.Multiboot)) {
            throw new IllegalArgumentException("--module applies only to Multiboot kernels; " + guest + " boots as " + source.protocol());
        }
        VmConfig config = new VmConfig(MemoryLayout.ofSize(memory), cpus, guestCpu(), source.protocol(), exitPort);
        List<Load> preloads = new ArrayList<>();
        for (String spec : loads) {
            preloads.add(Load.parse(spec));
        }
        return new Plan(config, source, preloads, List.copyOf(diskSpecs));
    }

    /** The guest as named: a fixture guest's name (its image is built into stasis), else a file. */
    String guest() {
        return guest;
    }

    private BootSource bootSource() throws Exception {
        Map<String, String> params = Guests.parseAssignments(guestParams);
        if (Guests.exists(guest) && !Files.exists(Path.of(guest))) {
            return new BootSource.Flat(Guests.flatImage(guest), Guests.slotValues(guest, params));
        }
        Path file = Path.of(guest);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(guest + ": no such file, and not a test guest (known: " + String.join(", ", Guests.names()) + ")");
        }
        if (!params.isEmpty() && boot != BootSource.Kind.FLAT && boot != BootSource.Kind.ELF && !guest.endsWith(".bin")) {
            // Parameters only make sense for flat/ELF test guests; refuse them rather than ignore them.
            throw new IllegalArgumentException("guest parameters " + params.keySet() + " apply only to flat and ELF test guests");
        }
        List<Long> values = new ArrayList<>();
        for (Map.Entry<String, String> p : params.entrySet()) {
            try {
                values.add(Long.decode(p.getValue()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("parameter '" + p.getKey() + "': '" + p.getValue() + "' is not a number (decimal or 0x hex)");
            }
        }
        byte[] initrdBytes = initrd == null ? null : Files.readAllBytes(initrd);
        return BootSource.of(guest, Files.readAllBytes(file), boot, cmdline, initrdBytes, values, modules());
    }

    /** The model resolved on this host, less the masked features; whether the host can present it is checked at VM creation. */
    private GuestCpu guestCpu() throws Exception {
        Set<CpuFeature> set = EnumSet.noneOf(CpuFeature.class);
        for (String m : masked) {
            set.add(CpuFeature.parse(m));
        }
        var model = CpuModels.find(cpuModel);
        try (Kvm kvm = Kvm.open()) {
            return model.resolve(HostCpu.of(kvm)).masking(set);
        }
    }

    /** Every file this command reads, as the user wrote it: what a jail must show the VM, what a golden image hashes. */
    List<String> inputFiles() {
        List<String> files = new ArrayList<>(List.of(guest));
        loads.forEach(s -> files.add(Load.parse(s).file().toString()));
        if (initrd != null) {
            files.add(initrd.toString());
        }
        modules.forEach(s -> files.add(moduleFile(s).toString()));
        for (int i = 0; i < disks.size(); i++) {
            files.add(DiskSpec.parse(disks.get(i), i).path().toString());
        }
        return files;
    }

    private static Path moduleFile(String spec) {
        int comma = spec.indexOf(',');
        return Path.of(comma < 0 ? spec : spec.substring(0, comma));
    }

    /** {@code --module FILE[,STRING]}: the string defaults to the file's name, as GRUB's {@code module} gives it. */
    private List<Module> modules() throws java.io.IOException {
        List<Module> out = new ArrayList<>();
        for (String spec : modules) {
            int comma = spec.indexOf(',');
            Path file = moduleFile(spec);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("--module: " + file + ": no such file");
            }
            out.add(new Module(Files.readAllBytes(file), comma < 0 ? file.toString() : spec.substring(comma + 1)));
        }
        return out;
    }

    /** {@code --load FILE@GPA}. */
    record Load(Path file, long gpa) {
        static Load parse(String spec) {
            int at = spec.lastIndexOf('@');
            if (at <= 0 || at == spec.length() - 1) {
                throw new IllegalArgumentException("--load expects FILE@GPA (e.g. data.img@0x10000000), got '" + spec + "'");
            }
            Path file = Path.of(spec.substring(0, at));
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException("--load: " + file + ": no such file");
            }
            return new Load(file, SizeConverter.parse(spec.substring(at + 1)));
        }
    }
}
