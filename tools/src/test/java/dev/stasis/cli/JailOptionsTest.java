package dev.stasis.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The jailed stasis gets the user's arguments less the jail's own options, in both spellings, up to a {@code --}. */
class JailOptionsTest {
    @Test
    void theJailsOptionsAreTakenOutAndEverythingElseKeptInOrder() {
        assertEquals(List.of("run", "idle", "--api-socket", "/vm.sock", "--mem", "64M", "report=1"),
                JailOptions.withoutJailOptions(List.of("run", "--jail", "/srv/j", "idle", "--uid=vm", "--api-socket", "/vm.sock",
                        "--jail-allow-root", "--gid", "kvm", "--mem", "64M", "--jail=/srv/j", "report=1")));
        assertEquals(List.of("run", "x.elf", "--", "--jail", "k"), JailOptions.withoutJailOptions(List.of("run", "--jail", "d", "x.elf", "--", "--jail", "k")),
                "after -- nothing is an option");
    }
}
