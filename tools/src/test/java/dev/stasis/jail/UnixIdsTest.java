package dev.stasis.jail;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Names and numbers for --uid and --gid, against what the host's own files say. */
class UnixIdsTest {
    @Test
    void namesResolveAsTheHostSaysAndNumbersAreTakenAsTheyAre() throws Exception {
        assertEquals(0, UnixIds.user("root"));
        assertEquals(0, UnixIds.group("root"));
        assertEquals(1234, UnixIds.user("1234"));
        assertEquals(1234, UnixIds.primaryGroup("1234"), "a number with no user: the same number as its group");
        String passwd = Files.readAllLines(Path.of("/etc/passwd")).stream().filter(l -> l.startsWith("nobody:")).findFirst().orElseThrow();
        String[] f = passwd.split(":");
        assertEquals(Integer.parseInt(f[2]), UnixIds.user("nobody"));
        assertEquals(Integer.parseInt(f[3]), UnixIds.primaryGroup("nobody"));
    }

    @Test
    void anUnknownNameIsRefusedNamingTheOption() {
        assertEquals("--uid stasis-nobody-here: no such user",
                assertThrows(IllegalArgumentException.class, () -> UnixIds.user("stasis-nobody-here")).getMessage());
        assertEquals("--gid stasis-nobody-here: no such group",
                assertThrows(IllegalArgumentException.class, () -> UnixIds.group("stasis-nobody-here")).getMessage());
    }
}
