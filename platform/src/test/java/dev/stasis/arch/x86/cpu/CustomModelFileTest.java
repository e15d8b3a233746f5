package dev.stasis.arch.x86.cpu;

import static org.junit.jupiter.api.Assertions.*;

import dev.stasis.kvm.x86.CpuidEntry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Custom CPU model files: what they resolve to, and one clear error (file, line, field) for each kind of bad input. */
class CustomModelFileTest {
    @TempDir
    Path dir;

    private Path file(String json) throws Exception {
        return Files.writeString(dir.resolve("m.json"), json);
    }

    private String error(String json) throws Exception {
        Path f = file(json);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuModels.find(f.toString()).resolve(null));
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
        assertTrue(e.getMessage().startsWith(f.toString() + ": "), "names the file: " + e.getMessage());
        return e.getMessage().substring(f.toString().length() + 2);
    }

    @Test
    void aModelAddsRemovesSetsBitsAndPresetsMsrs() throws Exception {
        Path f = file("""
                {
                  "name": "web-tier",
                  "base": "x86-64-v3",
                  "add": ["aes", "pclmulqdq"],
                  "remove": ["fma"],
                  "cpuid": [{"leaf": "0x7", "subleaf": 0, "register": "ebx", "bits": "xxxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxx1"}],
                  "msrs": [{"index": "0x1a0", "value": "0x1"}]
                }""");
        CpuModel m = CpuModels.find(f.toString());
        assertEquals("web-tier", m.name());
        assertTrue(m.portable());
        GuestCpu cpu = m.resolve(null);
        assertTrue(cpu.features().has(CpuFeature.AES) && cpu.features().has(CpuFeature.PCLMULQDQ) && cpu.features().has(CpuFeature.FSGSBASE));
        assertFalse(cpu.features().has(CpuFeature.FMA));
        assertTrue(cpu.features().has(CpuFeature.AVX2), "the base's features stay");
        assertEquals(1L, cpu.msrs().get(MsrPolicy.IA32_MISC_ENABLE));
        int[] msrs = MsrPolicy.forCpu(cpu);
        assertEquals(MsrPolicy.IA32_TSC, msrs[0]);
        assertEquals(MsrPolicy.IA32_TSC_DEADLINE, msrs[msrs.length - 1]);
        assertEquals(1, Arrays.stream(msrs).filter(i -> i == MsrPolicy.IA32_MISC_ENABLE).count(), "listed once");
    }

    @Test
    void hostBitsMakeAModelNotPortableAndComeFromTheHost() throws Exception {
        Path f = file("{\"name\": \"h\", \"base\": \"x86-64-v2\", \"cpuid\": [{\"leaf\": 7, \"register\": \"ebx\", \"bits\": \"" + "x".repeat(31) + "h\"}]}");
        CpuModel m = CpuModels.find(f.toString());
        assertFalse(m.portable());
        HostCpu withFsgsbase = HostCpu.recorded("a", List.of(new CpuidEntry(7, 0, 1, 0, 1, 0, 0)));
        HostCpu without = HostCpu.recorded("b", List.of(new CpuidEntry(7, 0, 1, 0, 0, 0, 0)));
        assertTrue(m.resolve(withFsgsbase).features().has(CpuFeature.FSGSBASE));
        assertFalse(m.resolve(without).features().has(CpuFeature.FSGSBASE));
    }

    @Test
    void badInputIsOneClearErrorNamingLineAndField() throws Exception {
        assertTrue(error("{\"name\": \"x\",\n \"base\": v2}").startsWith("line 2: not valid JSON"));
        assertTrue(error("[1]").startsWith("line 1: a CPU model file is one JSON object"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\",\n \"colour\": 1}").startsWith("line 2: unknown field \"colour\""));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"name\": \"y\"}").contains("Duplicate field 'name'"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"pentium\"}").contains("\"base\": unknown model 'pentium'"));
        assertTrue(error("{\"name\": \"host\", \"base\": \"x86-64-v2\"}").contains("not a built-in model's name"));
        assertTrue(error("{\"base\": \"x86-64-v2\"}").contains("needs \"name\" and \"base\""));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\",\n\n \"add\": [\"warp\"]}").startsWith("line 3: \"add\": unknown CPU feature 'warp'"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"add\": [\"avx2\"]}").contains("contradicts itself: avx2 needs avx"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v3\", \"remove\": [\"xsave\"]}").contains("contradicts itself: avx needs xsave"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"add\": [\"aes\"], \"remove\": [\"aes\"]}").contains("aes is both in"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"cpuid\": [\n{\"leaf\": \"0x1234\", \"register\": \"eax\", \"bits\": \""
                + "x".repeat(32) + "\"}]}").startsWith("line 2: \"leaf\": leaf 0x1234.0 EAX holds no CPU features"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"cpuid\": [{\"leaf\": 1, \"register\": \"esp\", \"bits\": \"\"}]}")
                .contains("'esp' is not a register"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"cpuid\": [{\"leaf\": 1, \"register\": \"ecx\", \"bits\": \"101\"}]}")
                .contains("\"bits\" must be 32 of 0, 1, x"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"cpuid\": [{\"leaf\": 1, \"register\": \"ecx\", \"bits\": \"1" + "x".repeat(31) + "\"}]}")
                .contains("bit 31 of leaf 0x1 ECX is not a feature"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"msrs\": [{\"index\": \"0x10\", \"value\": 0}]}").contains("IA32_TSC (0x10) is the guest's clock"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"msrs\": [{\"index\": \"0x1ffffffff\", \"value\": 0}]}").contains("out of range"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\", \"pmu\": \"yes\"}").contains("\"pmu\" must be true or false"));
        assertTrue(error("{\"name\": \"x\", \"base\": \"x86-64-v2\"} {}").contains("text after the model's object"));
    }

    @Test
    void anUnknownModelNameListsTheKnownOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuModels.find("skylake"));
        assertEquals("unknown CPU model 'skylake'; known: host, x86-64-v2, x86-64-v3, x86-64-v4, or a JSON file (./mycpu.json)", e.getMessage());
    }
}
