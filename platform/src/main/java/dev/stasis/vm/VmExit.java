package dev.stasis.vm;

/**
 * Why a VM stopped running, and what the process running it should exit with.
 *
 * @param kind        the class of stop
 * @param status      the guest's status for {@link Kind#GUEST_EXIT}, otherwise 0
 * @param description one line for a person
 * @param report      multi-line detail (the vCPU's registers for a guest-caused stop), or empty
 */
public record VmExit(Kind kind, int status, String description, String report) {
    public enum Kind {
        /** The guest wrote its status to the exit port. */
        GUEST_EXIT,
        /** The guest powered off (KVM_SYSTEM_EVENT_SHUTDOWN). */
        POWER_OFF,
        /** The guest asked for a reset; the caller may boot it again. */
        RESET,
        /** The guest stopped in a way it cannot continue from: triple fault, internal error, unhandled exit. */
        GUEST_FAILURE,
        /** Stopped from the host side (Ctrl-C, the API). */
        HOST_STOP,
        /** Saved to a snapshot and stopped on request: it goes on from the file. */
        SAVED,
        /** The VMM itself failed. */
        HOST_FAILURE,
        /** Live-migrated: the guest now runs on the destination. */
        MIGRATED
    }

    public static VmExit guestExit(int status) {
        return new VmExit(Kind.GUEST_EXIT, status, "guest exited with status " + status, "");
    }

    public static VmExit hostStop(String why) {
        return new VmExit(Kind.HOST_STOP, 0, why, "");
    }

    /** The process exit status a command line should end with. */
    public int processStatus() {
        return switch (kind) {
            case GUEST_EXIT -> status & 0xff;
            case POWER_OFF, RESET, SAVED, MIGRATED -> 0;
            case HOST_STOP -> 130;
            case GUEST_FAILURE -> 125;
            case HOST_FAILURE -> 126;
        };
    }
}
