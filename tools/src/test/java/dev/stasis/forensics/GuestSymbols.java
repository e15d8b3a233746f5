package dev.stasis.forensics;

import dev.stasis.cli.CliProcess;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** Addresses of a fixture guest's global symbols, by {@code nm} (binutils build the guests). */
final class GuestSymbols {
    private GuestSymbols() {}

    static long address(Path elf, String name) throws IOException, InterruptedException {
        CliProcess nm = CliProcess.exec(elf.getParent(), List.of("nm", elf.toString()));
        for (String line : nm.out().split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length == 3 && f[2].equals(name)) {
                return Long.parseUnsignedLong(f[0], 16);
            }
        }
        throw new AssertionError(name + " not in " + elf + ": " + nm.out() + nm.err());
    }
}
