package dev.stasis.vm;

import dev.stasis.kvm.KvmRun;
import dev.stasis.vcpu.GuestStop;
import dev.stasis.vcpu.Vcpu;

/** Builds the report of a guest-caused stop: what happened and the vCPU's registers at that moment. */
final class GuestStopReport {
    private GuestStopReport() {}

    static VmExit of(Vcpu vcpu, GuestStop stop, KvmRun run) {
        String detail = switch (stop) {
            case INTERNAL_ERROR -> String.format("suberror %d, data %s", run.internalSuberror(), hex(run.internalData()));
            case FAIL_ENTRY -> String.format("hardware entry failure reason 0x%x", run.failEntryReason());
            case UNHANDLED_EXIT -> KvmRun.exitName(run.exitReason());
            default -> "";
        };
        String description = "guest stopped: " + stop.description + " on " + vcpu + (detail.isEmpty() ? "" : " (" + detail + ")");
        StringBuilder report = new StringBuilder();
        try {
            report.append(vcpu.fd().getRegs()).append('\n').append(vcpu.fd().getSregs());
        } catch (RuntimeException e) {
            report.append("registers unavailable: ").append(e.getMessage());
        }
        return new VmExit(VmExit.Kind.GUEST_FAILURE, 0, description, report.toString());
    }

    private static String hex(long[] values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            b.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(values[i]));
        }
        return b.append(']').toString();
    }
}
