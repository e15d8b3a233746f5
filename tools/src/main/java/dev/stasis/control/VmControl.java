package dev.stasis.control;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.LiveSnapshot;
import dev.stasis.jail.Jailer;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.os.Niceness;
import dev.stasis.snapshot.container.WriteReport;
import dev.stasis.snapshot.container.SnapshotTarget;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmExit;
import java.nio.file.Path;
import java.util.List;

/**
 * The commands a running VM answers on its control socket:
 * <ul>
 *   <li>{@code snapshot} {path, exit?, live?, level?, threads?}: a live snapshot ({@link LiveSnapshotControl}:
 *       the default where userfaultfd works), or pause, write the file, then resume (or stop, with exit=true);
 *       answers bytes, paused_ms and the memory figures;</li>
 *   <li>{@code migrate} {to, ...}: live-migrate to a waiting {@code stasis migrate receive} ({@link MigrateControl});</li>
 *   <li>{@code pause}, {@code resume}, {@code status}, {@code stop};</li>
 *   <li>{@code migrate-status}, {@code migrate-cancel}: answered while a migrate runs (from another client): its
 *       phase, round, bytes, rates and expected downtime; cancel stops it before COMMIT, the guest running on here.</li>
 * </ul>
 * Each request is checked against its schema here before it runs; all but {@code status} change the VM
 * and so run one at a time.
 */
public final class VmControl {
    private VmControl() {}

    private static final RequestSchema NONE = RequestSchema.of();
    private static final RequestSchema SNAPSHOT = RequestSchema.of(
            Field.string("path", true), Field.bool("exit"), Field.bool("live"), Field.bool("progress"), Field.bool("with_disks"),
            Field.integer("level", -7, 19), Field.integer("threads", 1, 64));

    public static List<Command> handlers(Machine machine) {
        MigrateControl.Tracker migration = new MigrateControl.Tracker();
        return List.of(
                Command.changing("snapshot", SNAPSHOT, request -> snapshot(machine, request)),
                Command.changing("migrate", MigrateControl.SCHEMA, request -> {
                    if (Jailer.current() != null) {
                        // Its network namespace is empty: refuse by name rather than fail to connect.
                        throw new IllegalStateException("migrate: this VM runs in a jail (" + Jailer.current()
                                + "), whose network namespace is empty; migration from a jail is not supported");
                    }
                    return MigrateControl.migrate(machine, request, migration);
                }),
                // Not state-changing commands: they must answer while migrate holds the VM.
                Command.reading("migrate-status", NONE, request -> migration.status()),
                Command.reading("migrate-cancel", NONE, request -> migration.cancel()),
                Command.changing("pause", NONE, request -> {
                    machine.vm().pauseAll();
                    return status(machine, request);
                }),
                Command.changing("resume", NONE, request -> {
                    machine.vm().resumeAll();
                    return status(machine, request);
                }),
                Command.reading("status", NONE, request -> status(machine, request)),
                Command.changing("stop", NONE, request -> {
                    // After the answer is out: stopping first let the process end before it answered.
                    ControlServer.afterReply(() -> machine.vm().stop(VmExit.hostStop("stopped through the control socket")));
                    return status(machine, request).put("state", "stopping");
                }));
    }

    /** How long after the VM starts serving its socket the commands' paths are warmed: past its first instructions. */
    private static final long WARM_UP_DELAY_MILLIS = 500;

    /**
     * Runs the live snapshot's capture and the migration source's save, encode and page paths once, in the
     * background, soon after a VM starts serving its control socket: in a fresh JVM the first run of each is
     * interpreted and loads its classes (100-300 ms here), which would otherwise fall in the first snapshot's or
     * migration's set-up and rounds and share the CPU with them. Each is once per process and never fails the VM.
     */
    public static void warmUp(Machine machine) {
        Thread t = Niceness.backgroundThread(() -> { // beside the running guest: it yields to the vCPUs
            try {
                Thread.sleep(WARM_UP_DELAY_MILLIS);
                var cpu = machine.vm().config().cpu();
                LiveSnapshot.warmUp(cpu);
                if (Jailer.current() == null) { // a jailed VM cannot migrate (below)
                    MigrationSender.warmUp(cpu);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        t.setName("control-warmup");
        t.setDaemon(true);
        t.start();
    }

    private static ObjectNode snapshot(Machine machine, Request request) throws Exception {
        Path path = Path.of(request.string("path", null)).toAbsolutePath();
        boolean exit = request.bool("exit", false);
        WriterOptions options = WriterOptions.defaults();
        if (request.has("level")) {
            options = options.withLevel((int) request.integer("level", 0));
        }
        if (request.has("threads")) {
            options = options.withThreads((int) request.integer("threads", 0));
        }
        if (machine.vm().isStopped()) {
            throw new IllegalStateException("the VM has stopped; nothing to snapshot");
        }
        SnapshotTarget.check(path); // before the guest is paused for it
        LiveSnapshotControl.Outcome live = LiveSnapshotControl.tryLive(machine, request, path, options, exit);
        if (live.result() != null) {
            return live.result();
        }
        machine.preflushDisks();
        long start = System.nanoTime();
        boolean wasPaused = machine.vm().runControl().isPauseRequested(); // by the user, or held by a migration
        machine.vm().pauseAll();
        WriteReport report;
        try {
            report = Checkpoint.save(machine, path, options, progress(machine, request), request.bool("with_disks", false));
        } catch (Exception e) {
            if (!wasPaused) {
                machine.vm().resumeAll(); // a failed snapshot leaves the guest as it was
            }
            throw e;
        }
        long pausedNanos = System.nanoTime() - start;
        if (exit) {
            // Still paused; it stops once the answer is out, or the process could end before answering.
            ControlServer.afterReply(() -> machine.vm().stop(new VmExit(VmExit.Kind.SAVED, 0, "saved to " + path + " and stopped", "")));
        } else if (!wasPaused) {
            machine.vm().resumeAll();
        }
        return live.describe(result(path, report, pausedNanos, exit));
    }

    /** The answer to a snapshot request, stopped or live. */
    static ObjectNode result(Path path, WriteReport report, long pausedNanos, boolean exit) {
        ObjectNode result = ControlServer.json().createObjectNode();
        result.put("path", path.toString());
        result.put("bytes", report.bytes());
        result.put("sections", report.sectionCount());
        result.put("guest_bytes", report.memory().guestBytes());
        result.put("zero_pages", report.memory().zeroPages());
        result.put("stored_pages", report.memory().storedPages());
        result.put("memory_ms", report.memory().elapsed().toNanos() / 1e6);
        result.put("total_ms", report.total().toNanos() / 1e6);
        result.put("paused_ms", pausedNanos / 1e6);
        result.put("exited", exit);
        return result;
    }

    static java.util.function.LongConsumer progress(Machine machine, Request request) {
        return request.bool("progress", false) ? new ProgressEvents(machine.vm().config().layout().totalSize(), ControlServer.progressSink()) : bytes -> { };
    }

    /** Guest bytes written so far, sent to the client as {@code {"done":N,"total":M}} at most every 100 ms. */
    private static final class ProgressEvents implements java.util.function.LongConsumer {
        private final long total;
        private final java.util.function.Consumer<ObjectNode> send;
        private long done;
        private long lastSent;

        ProgressEvents(long total, java.util.function.Consumer<ObjectNode> send) {
            this.total = total;
            this.send = send;
        }

        @Override
        public synchronized void accept(long bytes) {
            done += bytes;
            long now = System.nanoTime();
            if (now - lastSent >= 100_000_000L || done >= total) {
                lastSent = now;
                send.accept(ControlServer.json().createObjectNode().put("done", done).put("total", total));
            }
        }
    }

    private static ObjectNode status(Machine machine, Request request) {
        ObjectNode s = ControlServer.json().createObjectNode();
        s.put("state", machine.vm().isStopped() ? "stopped" : machine.vm().runControl().isPaused() ? "paused" : "running");
        s.put("vcpus", machine.vm().config().vcpus());
        s.put("memory_bytes", machine.vm().config().layout().totalSize());
        if (request.busyWith() != null) {
            s.put("busy", request.busyWith()); // the state-changing command running now, and for whom
        }
        return s;
    }
}
