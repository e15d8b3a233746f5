package dev.stasis.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Host memory of a process from /proc: its guest-RAM mappings (512 MiB or more) and the whole process, in KiB. */
final class Smaps {
    private Smaps() {}

    /** Rss and Pss (KiB) of the mappings of 512 MiB or more of process {@code pid} ("self" for this one): guest RAM. */
    static long[] guestRam(String pid) throws IOException {
        long rss = 0, pss = 0;
        boolean big = false;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                String[] range = line.substring(0, line.indexOf(' ')).split("-");
                big = Long.parseUnsignedLong(range[1], 16) - Long.parseUnsignedLong(range[0], 16) >= 512L << 20;
            } else if (big && line.startsWith("Rss:")) {
                rss += kib(line);
            } else if (big && line.startsWith("Pss:")) {
                pss += kib(line);
            }
        }
        return new long[] {rss, pss};
    }

    /** AnonHugePages (KiB) of this process's mappings that overlap {@code [from, to)}: how much of guest RAM is in huge pages. */
    static long hugePages(long from, long to) throws IOException {
        long huge = 0;
        boolean inside = false;
        for (String line : Files.readAllLines(Path.of("/proc/self/smaps"))) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                String[] range = line.substring(0, line.indexOf(' ')).split("-");
                inside = Long.compareUnsigned(Long.parseUnsignedLong(range[0], 16), to) < 0 && Long.compareUnsigned(Long.parseUnsignedLong(range[1], 16), from) > 0;
            } else if (inside && line.startsWith("AnonHugePages:")) {
                huge += kib(line);
            }
        }
        return huge;
    }

    /** Rss and Pss (KiB) of the whole process. */
    static long[] rollup(String pid) throws IOException {
        long rss = 0, pss = 0;
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/smaps_rollup"))) {
            if (line.startsWith("Rss:")) {
                rss = kib(line);
            } else if (line.startsWith("Pss:")) {
                pss = kib(line);
            }
        }
        return new long[] {rss, pss};
    }

    private static long kib(String line) {
        return Long.parseLong(line.replaceAll("\\D", ""));
    }
}
