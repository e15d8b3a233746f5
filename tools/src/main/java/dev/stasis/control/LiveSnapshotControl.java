package dev.stasis.control;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.checkpoint.LiveSnapshot;
import dev.stasis.machine.Machine;
import dev.stasis.memory.PointInTimeRam;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.uffd.UffdUnavailableException;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The live side of the {@code snapshot} command. Live is the default: the guest stands still for milliseconds
 * instead of the whole write, and the file is the same machine at the same instant. A request gets a stopped
 * snapshot instead when it says {@code "live":false}, when it says {@code "exit":true} (the guest stops once
 * the file is written anyway, and a stopped write is faster), or when userfaultfd cannot be used here: then
 * the answer carries a {@code note} naming what is missing, unless the request insisted on {@code "live":true},
 * which is refused with that line.
 */
final class LiveSnapshotControl {
    private LiveSnapshotControl() {}

    /** What came of it: a live snapshot's answer, or none and a note to add to the stopped one that follows. */
    record Outcome(ObjectNode result, String note) {
        static final Outcome STOPPED = new Outcome(null, null);

        /** Marks a stopped snapshot's answer. */
        ObjectNode describe(ObjectNode stopped) {
            stopped.put("live", false);
            if (note != null) {
                stopped.put("note", note);
            }
            return stopped;
        }
    }

    static Outcome tryLive(Machine machine, Request request, Path path, WriterOptions options, boolean exit) throws IOException {
        Boolean asked = request.has("live") ? request.bool("live", true) : null; // validated as a boolean by the schema
        if (exit) {
            if (Boolean.TRUE.equals(asked)) {
                throw new IllegalArgumentException("live and exit together: with exit the guest stops once the file is written, so it is written stopped; leave out live");
            }
            return Outcome.STOPPED;
        }
        if (Boolean.FALSE.equals(asked)) {
            return Outcome.STOPPED;
        }
        LiveSnapshot live;
        try {
            live = LiveSnapshot.take(machine, request.bool("with_disks", false)); // refused before anything pauses when userfaultfd is missing
        } catch (UffdUnavailableException e) {
            String why = LiveSnapshot.explain(e.getMessage());
            if (asked != null) {
                throw new IllegalStateException(why + "; nothing written (without --live a stopped snapshot is taken instead)");
            }
            return new Outcome(null, why + "; took a stopped snapshot instead");
        }
        try (live) {
            WriteReport report = live.write(path, options, VmControl.progress(machine, request));
            PointInTimeRam.Stats stats = live.stats();
            ObjectNode result = VmControl.result(path, report, live.paused().toNanos(), false);
            result.put("live", true);
            result.put("faults", stats.faults());
            result.put("copied_pages", stats.copies());
            return new Outcome(result, null);
        }
    }
}
