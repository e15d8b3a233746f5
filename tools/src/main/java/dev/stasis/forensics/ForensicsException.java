package dev.stasis.forensics;

import dev.stasis.snapshot.container.RamRange;
import java.util.List;

/** A question the snapshot cannot answer (an address not mapped, a vCPU that does not exist), as one line. */
public class ForensicsException extends RuntimeException {
    public ForensicsException(String message) {
        super(message);
    }

    static ForensicsException outsideRam(long gpa, long length, List<RamRange> ranges) {
        return new ForensicsException(String.format("guest-physical 0x%x (+%d bytes) is outside guest RAM %s", gpa, length, ranges));
    }
}
