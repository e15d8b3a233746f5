package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.stasis.arch.x86.cpu.CpuFeature;
import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.fixtures.Guests;
import dev.stasis.fixtures.HostFeatures;
import dev.stasis.kvm.testing.RequiresKvm;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --cpu-model}, {@code stasis cpu models} and {@code stasis cpu check}, as a user runs them. */
@RequiresKvm
class CpuCliTest {
    @TempDir
    Path dir;

    /** Runs {@code guest} with {@code model} until it prints {@code line}, then snapshots it with --exit; returns what snapshot said. */
    private CliProcess snapshotOf(String guest, String model, String line, Path file) throws Exception {
        try (LiveCli run = LiveCli.start("run", guest, "--cpu-model", model, "--api-socket", dir.resolve("s").toString())) {
            assertNotNull(run.await(Pattern.compile(line), m -> true, 0, Duration.ofSeconds(20)), run.output());
            CliProcess snap = CliProcess.run(List.of(), "snapshot", "--api-socket", dir.resolve("s").toString(), "--out", file.toString(), "--exit");
            assertEquals(0, snap.status(), snap.err());
            return snap;
        }
    }

    @Test
    void aGuestSavedWithV2ShowsNoAvx2AndRestoresAndGoesOn() throws Exception {
        Path file = dir.resolve("ticker.stasis");
        snapshotOf("ticker", "x86-64-v2", "ticker n=.*", file);
        CliProcess inspect = CliProcess.run(List.of(), "inspect", file.toString(), "--json");
        assertEquals(0, inspect.status(), inspect.err());
        JsonNode sections = new ObjectMapper().readTree(inspect.out()).get("sections");
        int leaf7 = 0;
        for (JsonNode s : sections) {
            if (s.get("name").asText().equals("vcpu")) {
                for (JsonNode e : s.get("fields").get("cpuid")) {
                    if (e.get("function").asLong() == 7 && e.get("index").asLong() == 0) {
                        assertEquals(0, e.get("ebx").asLong() & CpuFeature.AVX2.mask(), "no AVX2 in the saved CPUID");
                        leaf7++;
                    }
                }
            }
            if (s.get("name").asText().equals("vm")) {
                assertEquals("x86-64-v2", s.get("fields").get("cpu_model").asText());
            }
        }
        assertEquals(1, leaf7, "one vCPU, one leaf 7.0");
        assertTrue(inspect.out().contains("x86-64-v2 (portable)"), "the manifest says the model is portable");
        try (LiveCli restore = LiveCli.start("restore", file.toString())) {
            assertNotNull(restore.await(Pattern.compile("ticker n=.*"), m -> true, 0, Duration.ofSeconds(20)), restore.output());
        }
    }

    @Test
    void theHostModelSaysItIsNotPortable() throws Exception {
        Path file = dir.resolve("host.stasis");
        CliProcess snap = snapshotOf("idle", "host", "idle ready.*", file);
        assertTrue(snap.err().contains("not portable"), "snapshot warns the file is tied to this CPU: " + snap.err());
        CliProcess inspect = CliProcess.run(List.of(), "inspect", file.toString());
        assertTrue(inspect.out().contains("cpu_model = host (not portable"), inspect.out());
    }

    @Test
    void cpuModelsListsTheBuiltInModels() throws Exception {
        CliProcess p = CliProcess.run(List.of(), "cpu", "models");
        assertEquals(0, p.status(), p.err());
        for (String m : List.of("host", "x86-64-v2", "x86-64-v3", "x86-64-v4")) {
            assertTrue(p.out().lines().anyMatch(l -> l.startsWith(m + " ")), m + " listed:\n" + p.out());
        }
        assertTrue(p.out().lines().anyMatch(l -> l.startsWith("x86-64-v2 ") && l.contains("(default)") && l.contains("[runs here]")), p.out());
    }

    @Test
    void cpuCheckSaysYesOrExplainsARefusalByFeatureName() throws Exception {
        Path good = dir.resolve("good.stasis"), bad = dir.resolve("bad.stasis");
        CpuFeature missing;
        try (Machine m = Machine.create(VmConfig.of(16 << 20, 1), OutputStream.nullOutputStream())) {
            m.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
            Checkpoint.save(m, good, WriterOptions.defaults());
            missing = HostFeatures.notPresentable(m);
            HostFeatures.claim(m, missing); // the guest as a host with one more feature would have saved it
            Checkpoint.save(m, bad, WriterOptions.defaults());
        }
        CliProcess yes = CliProcess.run(List.of(), "cpu", "check", good.toString());
        assertEquals(0, yes.status(), yes.out() + yes.err());
        assertTrue(yes.out().startsWith("yes: this host can run"), yes.out());
        CliProcess no = CliProcess.run(List.of(), "cpu", "check", bad.toString());
        assertEquals(1, no.status(), no.out() + no.err());
        assertTrue(no.out().contains("cannot give a guest: " + missing.describe()), no.out());
        CliProcess restore = CliProcess.run(List.of(), "restore", bad.toString());
        assertEquals(2, restore.status(), restore.err());
        assertTrue(restore.err().contains(missing.describe()), "restore refuses by name too: " + restore.err());
        CliProcess none = CliProcess.run(List.of(), "cpu", "check", dir.resolve("nothing").toString());
        assertEquals(2, none.status(), none.err());
    }

    @Test
    void badModelsAreRefusedInOneLineWithExitTwo() throws Exception {
        Path contradiction = Files.writeString(dir.resolve("c.json"), "{\"name\": \"c\", \"base\": \"x86-64-v2\",\n \"add\": [\"avx2\"]}");
        Path notJson = Files.writeString(dir.resolve("n.json"), "{\"name\": \"n\",\n \"base\": x86}");
        Path unknownLeaf = Files.writeString(dir.resolve("l.json"),
                "{\"name\": \"l\", \"base\": \"x86-64-v2\",\n \"cpuid\": [\n {\"leaf\": \"0x1234\", \"register\": \"eax\", \"bits\": \"" + "x".repeat(32) + "\"}]}");
        String missing;
        try (Machine m = Machine.create(VmConfig.of(16 << 20, 1), OutputStream.nullOutputStream())) {
            missing = HostFeatures.notPresentable(m).key();
        }
        Path unpresentable = Files.writeString(dir.resolve("u.json"), "{\"name\": \"u\", \"base\": \"x86-64-v2\", \"add\": [\"" + missing + "\"]}");
        record Case(List<String> args, String says) {}
        for (Case c : List.of(
                new Case(List.of("--cpu-model", contradiction.toString()), "contradicts itself: avx2 needs avx"),
                new Case(List.of("--cpu-model", notJson.toString()), "n.json: line 2: not valid JSON"),
                new Case(List.of("--cpu-model", unknownLeaf.toString()), "l.json: line 3: \"leaf\": leaf 0x1234.0 EAX holds no CPU features"),
                new Case(List.of("--cpu-model", unpresentable.toString()), "the CPU model u needs features this host cannot give a guest: " + missing + " ("),
                new Case(List.of("--cpu-model", "pentium"), "unknown CPU model 'pentium'; known: host, x86-64-v2"),
                new Case(List.of("--cpuid-mask", "warp-drive"), "unknown CPU feature 'warp-drive'"))) {
            List<String> args = new ArrayList<>(List.of("run", "hello"));
            args.addAll(c.args());
            CliProcess p = CliProcess.run(List.of(), args.toArray(String[]::new));
            assertEquals(2, p.status(), c + ": " + p.err());
            assertTrue(p.err().startsWith("stasis: error: ") && p.err().contains(c.says()), c.says() + " in: " + p.err());
            assertEquals(1, p.err().lines().count(), "one line: " + p.err());
            assertFalse(p.out().contains("hello from"), "nothing started: " + p.out());
        }
    }
}
