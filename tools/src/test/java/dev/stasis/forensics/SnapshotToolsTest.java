package dev.stasis.forensics;

import dev.stasis.cli.CliProcess;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.forensics.x86.Translation;
import dev.stasis.forensics.x86.VirtualMemory;
import dev.stasis.kvm.testing.RequiresKvm;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code stasis core} and {@code stasis mem} on a real crash dump of the {@code panic} guest, which leaves known
 * registers, "STASIS!\n" at guest-physical 0x200000, and a mapping of linear 0xffff800000005000 to it.
 */
@RequiresKvm
class SnapshotToolsTest {
    private static final long MARK_GPA = 0x200000;
    private static final long MARK_VADDR = 0xffff_8000_0000_5000L;
    private static final byte[] MARK = "STASIS!\n".getBytes(StandardCharsets.US_ASCII);

    @TempDir
    static Path dir;
    static Path snap;

    @BeforeAll
    static void crashThePanicGuest() throws Exception {
        CliProcess p = CliProcess.runIn(dir, List.of(), "run", "panic", "--crash-dump", "panic.snap");
        assertEquals(125, p.status(), p.err());
        snap = dir.resolve("panic.snap");
    }

    @Test
    void gdbReadsRegistersAndMemoryFromTheCore() throws Exception {
        CliProcess core = CliProcess.runIn(dir, List.of(), "core", "panic.snap", "-o", "core.elf", "--json");
        assertEquals(0, core.status(), core.err());
        JsonNode layout = new ObjectMapper().readTree(core.out());
        assertEquals(0, layout.path("loads").get(0).path("gpa").asLong());
        assertEquals(128L << 20, layout.path("loads").get(0).path("size").asLong());

        long rip;
        long r12;
        byte[] mark;
        try (SnapshotImage image = SnapshotImage.open(snap)) {
            rip = image.vcpu(0).getStruct("regs").getLong("rip");
            r12 = image.vcpu(0).getStruct("regs").getLong("r12");
            mark = image.memory(n -> { }).read(MARK_GPA, 8);
        }
        assertArrayEquals(MARK, mark);
        checkElf(dir.resolve("core.elf"), rip);

        assertTrue(Files.isExecutable(Path.of("/usr/bin/gdb")), "gdb is not installed: apt-get install gdb (.ci/run does)");
        CliProcess gdb = CliProcess.exec(dir, List.of("gdb", "-nx", "-batch", "-ex", "set architecture i386:x86-64",
                "-ex", "info registers rip r12 cs", "-ex", "x/8xb 0x" + Long.toHexString(MARK_GPA), "-c", "core.elf"));
        assertEquals(0, gdb.status(), gdb.err());
        assertEquals(rip, register(gdb.out(), "rip"), gdb.out());
        assertEquals(r12, register(gdb.out(), "r12"), gdb.out());
        assertEquals(0x8, register(gdb.out(), "cs"), gdb.out());
        Matcher x = Pattern.compile("0x200000:((?:\\s+0x[0-9a-f]{2}){8})").matcher(gdb.out());
        assertTrue(x.find(), gdb.out());
        byte[] seen = new byte[8];
        String[] bytes = x.group(1).trim().split("\\s+");
        for (int i = 0; i < 8; i++) {
            seen[i] = (byte) Integer.parseInt(bytes[i].substring(2), 16);
        }
        assertArrayEquals(mark, seen, gdb.out());
    }

    /** ELF header, and the notes: one NT_PRSTATUS per vCPU with pid 1 and rip, one STASIS note with the full state. */
    private static void checkElf(Path core, long rip) throws Exception {
        try (FileChannel ch = FileChannel.open(core)) {
            ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(h, 0);
            assertEquals(0x464c457f, h.getInt(0));
            assertEquals(4, h.getShort(16)); // ET_CORE
            assertEquals(62, h.getShort(18)); // EM_X86_64
            ByteBuffer ph = ByteBuffer.allocate(56).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(ph, h.getLong(32));
            assertEquals(4, ph.getInt(0)); // PT_NOTE first
            ByteBuffer notes = ByteBuffer.allocate((int) ph.getLong(32)).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(notes, ph.getLong(8));
            List<String> seen = new ArrayList<>();
            for (int at = 0; at < notes.capacity(); ) {
                int namesz = notes.getInt(at);
                int descsz = notes.getInt(at + 4);
                int type = notes.getInt(at + 8);
                String name = new String(notes.array(), at + 12, namesz - 1, StandardCharsets.US_ASCII);
                int desc = at + 12 + ((namesz + 3) & ~3);
                seen.add(name + ":" + Integer.toHexString(type));
                if (type == 1 && name.equals("CORE")) {
                    assertEquals(336, descsz);
                    assertEquals(1, notes.getInt(desc + 32)); // pr_pid = vCPU 0 + 1
                    assertEquals(rip, notes.getLong(desc + 112 + 16 * 8)); // pr_reg[16] = rip
                }
                if (type == CoreDump.NT_STASIS_VCPU) {
                    JsonNode state = new ObjectMapper().readTree(new String(notes.array(), desc, descsz, StandardCharsets.UTF_8));
                    assertEquals(rip, state.path("vcpu_section").path("fields").path("regs").path("rip").asLong());
                    assertTrue(state.path("vcpu_section").path("fields").path("sregs").has("cr3"));
                    assertTrue(state.path("lapic_section").path("fields").size() > 0);
                }
                at = desc + ((descsz + 3) & ~3);
            }
            assertEquals(List.of("CORE:1", "STASIS:53540001", "STASIS:53540002"), seen);
        }
    }

    private static long register(String gdbOut, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\s+0x([0-9a-f]+)").matcher(gdbOut);
        assertTrue(m.find(), name + " in " + gdbOut);
        return Long.parseUnsignedLong(m.group(1), 16);
    }

    @Test
    void linearAddressesTranslateThroughTheGuestsOwnPageTables() throws Exception {
        try (SnapshotImage image = SnapshotImage.open(snap)) {
            PhysicalMemory ram = image.memory(n -> { });
            VirtualMemory vm = image.virtualMemory(0, n -> { });
            // Low memory is identity mapped with 2 MiB pages by the loader.
            Translation low = vm.translate(0x100000);
            assertEquals(0x100000, low.gpa());
            assertEquals(2 << 20, low.pageSize());
            assertArrayEquals(ram.read(0x100000, 64), vm.read(0x100000, 64));
            // The guest's own higher-half 4 KiB mapping, through PML4 entry 256.
            Translation high = vm.translate(MARK_VADDR);
            assertEquals(MARK_GPA, high.gpa());
            assertEquals(4096, high.pageSize());
            assertEquals(256, high.steps().get(0).index());
            byte[] got = vm.read(MARK_VADDR, 16);
            assertArrayEquals(MARK, java.util.Arrays.copyOf(got, 8));
            assertEquals(0x0123456789abcdefL, ByteBuffer.wrap(got, 8, 8).order(ByteOrder.LITTLE_ENDIAN).getLong());
        }
    }

    @Test
    void memCommandPrintsBytesAndOneLineErrors() throws Exception {
        CliProcess json = CliProcess.runIn(dir, List.of(), "mem", "panic.snap", "--vaddr", "0xffff800000005000", "--len", "8", "--json");
        assertEquals(0, json.status(), json.err());
        JsonNode o = new ObjectMapper().readTree(json.out());
        assertEquals(HexFormat.of().formatHex(MARK), o.path("data").asText());
        assertEquals("0x200000", o.path("pages").get(0).path("gpa").asText());
        assertEquals("4-level paging", o.path("mode").asText());

        CliProcess dump = CliProcess.runIn(dir, List.of(), "mem", "panic.snap", "--vaddr", "0x200000", "--len", "8");
        assertEquals(0, dump.status(), dump.err());
        assertEquals("0000000000200000: 5354 4153 4953 210a                      STASIS!.", dump.out().strip());

        assertOneLineError(CliProcess.runIn(dir, List.of(), "mem", "panic.snap", "--vaddr", "0xffff800000006000", "--len", "4"),
                "0xffff800000006000 is not mapped: PT entry 6 (at guest-physical 0x212030, value 0x0) is not present");
        assertOneLineError(CliProcess.runIn(dir, List.of(), "mem", "panic.snap", "--vaddr", "0x200000", "--len", "4", "--cpu", "1"),
                "vCPU 1 does not exist: panic.snap holds 1 vCPU (0..0)");
        assertOneLineError(CliProcess.runIn(dir, List.of(), "mem", "panic.snap", "--vaddr", "0x0000800000000000", "--len", "4"),
                "0x800000000000 is not canonical for 4-level paging (bits 63:47 must equal bit 47)");
        byte[] whole = Files.readAllBytes(snap);
        Files.write(dir.resolve("cut.snap"), java.util.Arrays.copyOf(whole, whole.length / 2));
        CliProcess cut = CliProcess.runIn(dir, List.of(), "core", "cut.snap", "-o", "cut.elf");
        assertEquals(2, cut.status());
        assertTrue(cut.err().strip().matches("stasis: error: cut.snap: no trailer .*truncated.*"), cut.err());
        assertEquals(1, cut.err().strip().lines().count(), cut.err());
    }

    private static void assertOneLineError(CliProcess p, String message) {
        assertEquals(2, p.status(), p.err());
        assertEquals("stasis: error: " + message, p.err().strip());
    }
}
