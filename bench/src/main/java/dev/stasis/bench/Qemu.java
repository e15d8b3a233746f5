package dev.stasis.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** QEMU as the benchmarks run it beside stasis: the same guest, the same KVM, one vCPU, the serial port on stdout. */
final class Qemu {
    static final String BINARY = "/usr/bin/qemu-system-x86_64";

    /**
     * The CPU every bench's QEMU runs with. -arch-capabilities: on an AMD EPYC host this KVM offers IA32_ARCH_CAPABILITIES
     * in CPUID but refuses the value QEMU writes to it ("failed to set MSR 0x10a to 0x69", then an assertion); the
     * guests here never read it.
     */
    static final String CPU = "host,-arch-capabilities";

    private Qemu() {}

    static boolean installed() {
        return Files.isExecutable(Path.of(BINARY));
    }

    /**
     * The command line for {@code kernel} (Multiboot, {@code -kernel}) with {@code mem} of RAM ("1G", "256M"), QMP at
     * {@code qmp}; {@code load} (or null) loaded into RAM at {@code loadGpa}; {@code incoming} (or null) the
     * {@code -incoming} URI.
     */
    static String[] args(Path kernel, String mem, Path load, String loadGpa, Path qmp, String incoming) {
        List<String> a = new ArrayList<>(List.of(BINARY, "-accel", "kvm", "-cpu", CPU, "-machine", "q35", "-m", mem,
                "-smp", "1", "-display", "none", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-no-reboot",
                "-kernel", kernel.toString(), "-qmp", "unix:" + qmp + ",server=on,wait=off"));
        if (load != null) {
            a.addAll(List.of("-device", "loader,file=" + load + ",addr=" + loadGpa));
        }
        if (incoming != null) {
            a.addAll(List.of("-incoming", incoming));
        }
        return a.toArray(String[]::new);
    }

    static String version() throws IOException, InterruptedException {
        Process p = new ProcessBuilder(BINARY, "--version").redirectErrorStream(true).start();
        String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().findFirst().orElse("");
        p.waitFor();
        Matcher m = Pattern.compile("version (\\S+)").matcher(v);
        return m.find() ? m.group(1) : v;
    }
}
