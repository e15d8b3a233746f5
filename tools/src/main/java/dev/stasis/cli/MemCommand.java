package dev.stasis.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.forensics.Progress;
import dev.stasis.forensics.SnapshotImage;
import dev.stasis.forensics.x86.Translation;
import dev.stasis.forensics.x86.VirtualMemory;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stasis mem}: guest-virtual memory out of a snapshot, through a vCPU's page tables. */
@Command(name = "mem", mixinStandardHelpOptions = true,
        description = {"Read guest-virtual memory from snapshot FILE by walking vCPU K's page tables as the file holds them",
                "(4- and 5-level long mode with 4 KiB, 2 MiB and 1 GiB pages, PAE, 32-bit with 4 MiB PSE pages; paging off:",
                "addresses are physical). Prints a hex dump, or writes the bytes to --out."})
final class MemCommand implements Callable<Integer> {
    static final int MAX_LENGTH = 256 << 20;

    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Option(names = "--vaddr", required = true, paramLabel = "ADDR", converter = AddressConverter.class, description = "linear address (0x hex or decimal)")
    long vaddr;

    @Option(names = "--len", required = true, paramLabel = "N", converter = AddressConverter.class, description = "bytes to read")
    long length;

    @Option(names = "--cpu", paramLabel = "K", defaultValue = "0", description = "whose page tables (default ${DEFAULT-VALUE})")
    int cpu;

    @Option(names = "--out", paramLabel = "F", description = "write the bytes to F instead of a hex dump")
    Path out;

    @Option(names = "--json", description = "print the translation of each page and the bytes (hex) as JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (length <= 0 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("--len must be 1.." + MAX_LENGTH + ", got " + Long.toUnsignedString(length));
        }
        try (SnapshotImage image = SnapshotImage.open(file)) {
            image.checkVcpu(cpu);
            VirtualMemory vm;
            try (Progress progress = Progress.start("reading memory", image.memoryBytes())) {
                vm = image.virtualMemory(cpu, progress);
            }
            byte[] data = vm.read(vaddr, (int) length);
            if (out != null) {
                Files.write(out, data);
            }
            if (json) {
                printJson(vm, data);
            } else if (out == null) {
                hexDump(System.out, vaddr, data);
            }
            return 0;
        }
    }

    private void printJson(VirtualMemory vm, byte[] data) throws Exception {
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode().put("vaddr", hex(vaddr)).put("len", data.length).put("cpu", cpu);
        ArrayNode pages = o.putArray("pages");
        for (long va = vaddr & ~0xfffL; Long.compareUnsigned(va, vaddr + data.length) < 0; va += 4096) {
            Translation t = vm.translate(va);
            o.put("mode", t.mode().description);
            ObjectNode p = pages.addObject().put("vaddr", hex(va)).put("gpa", hex(t.gpa())).put("page_size", t.pageSize());
            ArrayNode steps = p.putArray("walk");
            for (Translation.Step s : t.steps()) {
                steps.addObject().put("level", s.level()).put("index", s.index()).put("entry_gpa", hex(s.entryGpa())).put("entry", hex(s.entry()));
            }
        }
        if (out == null) {
            o.put("data", HexFormat.of().formatHex(data));
        } else {
            o.put("out", out.toString());
        }
        System.out.println(m.writeValueAsString(o));
    }

    /** xxd-like: address, 16 bytes in hex, the printable ones as text. */
    static void hexDump(PrintStream out, long address, byte[] data) {
        StringBuilder b = new StringBuilder();
        for (int line = 0; line < data.length; line += 16) {
            b.setLength(0);
            b.append(String.format("%016x: ", address + line));
            for (int i = 0; i < 16; i++) {
                b.append(line + i < data.length ? String.format("%02x", data[line + i]) : "  ").append(i % 2 == 1 ? " " : "");
            }
            b.append(' ');
            for (int i = line; i < Math.min(line + 16, data.length); i++) {
                b.append(data[i] >= 0x20 && data[i] < 0x7f ? (char) data[i] : '.');
            }
            out.println(b);
        }
    }

    private static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
