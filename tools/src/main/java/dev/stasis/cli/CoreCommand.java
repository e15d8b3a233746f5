package dev.stasis.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.forensics.CoreDump;
import dev.stasis.forensics.Progress;
import dev.stasis.forensics.SnapshotImage;
import dev.stasis.forensics.elf.ElfCoreWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stasis core}: a snapshot as an ELF64 core file for gdb and crash. */
@Command(name = "core", mixinStandardHelpOptions = true,
        description = {"Write the guest in snapshot FILE as an ELF64 core (ET_CORE, x86-64): an NT_PRSTATUS note per vCPU",
                "(gdb thread = vCPU index + 1), a STASIS note per vCPU with its full state as JSON, and one PT_LOAD per",
                "RAM range at p_vaddr = p_paddr = its guest-physical address (gdb reads identity-mapped guests right).",
                "Example: gdb -batch -ex 'info registers rip' -ex 'x/4xb 0x100000' -c core.elf"})
final class CoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "CORE", description = "the core file to write (replaced atomically)")
    Path out;

    @Option(names = "--json", description = "print the core's layout as JSON")
    boolean json;

    @Override
    public Integer call() throws Exception {
        try (SnapshotImage image = SnapshotImage.open(file)) {
            ElfCoreWriter.Written w;
            try (Progress progress = Progress.start("core", 2 * image.memoryBytes())) {
                w = CoreDump.write(image, out, progress);
            }
            if (json) {
                ObjectMapper m = new ObjectMapper();
                ObjectNode o = m.createObjectNode().put("path", w.path().toString()).put("file_bytes", w.fileSize())
                        .put("vcpus", image.vcpuCount()).put("note_offset", w.noteOffset()).put("note_bytes", w.noteSize());
                ArrayNode loads = o.putArray("loads");
                for (ElfCoreWriter.Segment s : w.loads()) {
                    loads.addObject().put("gpa", s.gpa()).put("vaddr", s.gpa()).put("size", s.size()).put("file_offset", s.fileOffset());
                }
                System.out.println(m.writeValueAsString(o));
            } else {
                System.out.printf("%s: ELF64 core, %d vCPU%s, %d memory range%s (%d bytes of RAM)%n", w.path(), image.vcpuCount(),
                        image.vcpuCount() == 1 ? "" : "s", w.loads().size(), w.loads().size() == 1 ? "" : "s", image.memoryBytes());
            }
            return 0;
        }
    }
}
