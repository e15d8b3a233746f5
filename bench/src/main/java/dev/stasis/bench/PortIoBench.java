package dev.stasis.bench;

import dev.stasis.devices.PioDevice;
import dev.stasis.loader.FlatLoader;
import dev.stasis.os.LibC;
import dev.stasis.vm.Vm;
import dev.stasis.vm.VmConfig;
import dev.stasis.vm.VmExit;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What one port-I/O exit costs through the whole Java platform, against the same guest driven by a plain C
 * program, and what a JNA direct-mapped call costs on its own.
 *
 * <ul>
 *   <li>(a) Java: {@link Vm} + {@link FlatLoader}, a guest looping {@code out %al,(%dx)} to port 0xf0 (8 per
 *       loop, so the emulated loop overhead stays small), served by a trivial {@link PioDevice} through the
 *       vCPU thread's run loop and the port bus; then {@code out %al,$0xf4} ends the round.</li>
 *   <li>(b) C: {@code port_io_bench.c} (shipped as a resource, compiled with gcc at run time) sets up the same
 *       VM (irqchip, PIT, one 16 MiB slot with dirty logging, long mode, FlatLoader's layout) and runs the
 *       same guest bytes with raw KVM_RUN.</li>
 *   <li>(c) JNA: {@code getpid()} through {@link LibC} (direct mapping), against {@code getpid()} from C:
 *       the difference is the JNA call overhead.</li>
 * </ul>
 * Each side warms up, then runs {@code --rounds} rounds of {@code --exits} exits (one fresh VM per round);
 * the table shows the median and the minimum per round. Usage:
 * {@code java -jar bench/target/stasis-bench.jar [--exits N] [--rounds R] [--calls C]}.
 */
public final class PortIoBench {
    static final int PORT = 0xf0, EXIT_PORT = 0xf4;

    private PortIoBench() {}

    /** mov $iterations,%ecx; mov $0xf0,%dx; 1: out %al,(%dx) x8; dec %ecx; jnz 1b; out %al,$0xf4; 2: hlt; jmp 2b */
    static byte[] guest(long exits) {
        byte[] code = {
            (byte) 0xb9, 0, 0, 0, 0,
            0x66, (byte) 0xba, (byte) PORT, 0x00,
            (byte) 0xee, (byte) 0xee, (byte) 0xee, (byte) 0xee, (byte) 0xee, (byte) 0xee, (byte) 0xee, (byte) 0xee,
            (byte) 0xff, (byte) 0xc9,
            0x75, (byte) 0xf4,
            (byte) 0xe6, (byte) EXIT_PORT,
            (byte) 0xf4, (byte) 0xeb, (byte) 0xfd,
        };
        int iterations = (int) (exits / 8);
        for (int i = 0; i < 4; i++) {
            code[1 + i] = (byte) (iterations >>> (8 * i));
        }
        return code;
    }

    /** The trivial device: counts writes, stamps the first. */
    static final class CountingPort implements PioDevice {
        long count;
        long first;

        @Override
        public int read(int offset, int size) {
            return 0;
        }

        @Override
        public void write(int offset, int size, int value) {
            if (count++ == 0) {
                first = System.nanoTime();
            }
        }
    }

    /** One fresh VM; ns per exit from the first 0xf0 exit to the 0xf4 exit, as the C side measures. */
    static double javaRound(long exits) throws InterruptedException {
        try (Vm vm = Vm.create(VmConfig.of(16 << 20, 1))) {
            CountingPort port = new CountingPort();
            long[] end = new long[1];
            vm.pio().attach(PORT, 1, port, "bench port");
            vm.pio().attach(EXIT_PORT, 1, new PioDevice() {
                @Override
                public int read(int offset, int size) {
                    return 0;
                }

                @Override
                public void write(int offset, int size, int value) {
                    end[0] = System.nanoTime();
                    vm.stop(VmExit.guestExit(0));
                }
            }, "exit port");
            vm.boot(FlatLoader.load(vm.memory(), guest(exits)));
            vm.start();
            VmExit exit = vm.awaitExit(600_000);
            if (exit == null || exit.kind() != VmExit.Kind.GUEST_EXIT) {
                throw new IllegalStateException("the bench guest did not finish: " + (exit == null ? "timeout" : exit.description() + "\n" + exit.report()));
            }
            long expected = exits / 8 * 8;
            if (port.count != expected) {
                throw new IllegalStateException("expected " + expected + " port writes, saw " + port.count);
            }
            return (double) (end[0] - port.first) / port.count;
        }
    }

    static double jnaRound(long calls) {
        long t0 = System.nanoTime();
        int sink = 0;
        for (long i = 0; i < calls; i++) {
            sink += LibC.getpid();
        }
        long t1 = System.nanoTime();
        if (sink == 42) {
            System.out.print("");
        }
        return (double) (t1 - t0) / calls;
    }

    /** Compiles and runs the C side; returns {exit ns per round, getpid ns per round}, or null with the reason printed. */
    static double[][] cRounds(long exits, int rounds, long calls) throws IOException, InterruptedException {
        Path dir = Files.createTempDirectory("stasis-bench");
        try {
            Path source = dir.resolve("port_io_bench.c");
            try (InputStream in = PortIoBench.class.getResourceAsStream("port_io_bench.c")) {
                Files.copy(in, source, StandardCopyOption.REPLACE_EXISTING);
            }
            Path binary = dir.resolve("port_io_bench");
            String out;
            try {
                out = run(List.of("gcc", "-O2", "-Wall", "-o", binary.toString(), source.toString()));
            } catch (IOException e) {
                System.err.println("C side skipped: gcc is needed to build it (install gcc): " + e.getMessage());
                return null;
            }
            out = run(List.of(binary.toString(), Long.toString(exits), Integer.toString(rounds), Long.toString(calls)));
            List<Double> exitNs = new ArrayList<>(), getpidNs = new ArrayList<>();
            for (String line : out.split("\n")) {
                String[] f = line.trim().split(" ");
                if (f[0].equals("exit_ns")) {
                    exitNs.add(Double.parseDouble(f[1]));
                } else if (f[0].equals("getpid_ns")) {
                    getpidNs.add(Double.parseDouble(f[1]));
                }
            }
            return new double[][] {exitNs.stream().mapToDouble(d -> d).toArray(), getpidNs.stream().mapToDouble(d -> d).toArray()};
        } finally {
            try (var files = Files.list(dir)) {
                for (Path p : files.toList()) {
                    Files.deleteIfExists(p);
                }
            }
            Files.deleteIfExists(dir);
        }
    }

    private static String run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed:\n" + out);
        }
        return out;
    }

    static double median(double[] v) {
        return Stats.median(Arrays.stream(v).boxed().toList());
    }

    static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    public static void main(String[] args) throws Exception {
        long exits = 100_000;
        int rounds = 5;
        long calls = 5_000_000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--exits" -> exits = Long.parseLong(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--calls" -> calls = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("usage: PortIoBench [--exits N (multiple of 8)] [--rounds R (>= 3)] [--calls C]");
                    System.exit(2);
                }
            }
        }
        if (rounds < 3 || exits < 8) {
            System.err.println("need at least 3 rounds and 8 exits");
            System.exit(2);
        }
        System.out.printf("port-I/O exit bench: %d exits x %d rounds, %d JNA calls x %d rounds (%d CPUs, %s)%n",
                exits, rounds, calls, rounds, Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.version"));

        for (int i = 0; i < 3; i++) {
            javaRound(exits / 4); // warm-up: JIT the run loop, bus and JNA paths
        }
        double[] java = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            java[r] = javaRound(exits);
        }

        double[][] c = cRounds(exits, rounds, calls);

        for (int i = 0; i < 5; i++) {
            jnaRound(calls / 5);
        }
        double[] jna = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            jna[r] = jnaRound(calls);
        }

        System.out.println();
        System.out.printf("%-34s %12s %12s%n", "", "median", "min");
        row("Java platform, ns/exit", java);
        if (c != null) {
            row("C raw KVM_RUN, ns/exit", c[0]);
            System.out.printf("%-34s %12.0f %12.0f%n", "difference (Java - C), ns/exit", median(java) - median(c[0]), min(java) - min(c[0]));
        }
        row("JNA getpid(), ns/call", jna);
        if (c != null) {
            row("C getpid(), ns/call", c[1]);
            System.out.printf("%-34s %12.0f %12.0f%n", "JNA call overhead, ns/call", median(jna) - median(c[1]), min(jna) - min(c[1]));
        }
        System.out.println();
        System.out.println("rounds: java " + Arrays.toString(round(java)) + (c == null ? "" : ", c " + Arrays.toString(round(c[0]))));
    }

    private static void row(String name, double[] v) {
        System.out.printf("%-34s %12.0f %12.0f%n", name, median(v), min(v));
    }

    private static long[] round(double[] v) {
        return Arrays.stream(v).mapToLong(Math::round).toArray();
    }
}
