package dev.stasis.cli;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.LiveSnapshot;
import dev.stasis.fixtures.Guests;
import dev.stasis.kvm.Kvm;
import dev.stasis.machine.BootSource;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationReceiver;
import dev.stasis.migrate.MigrationSender;
import dev.stasis.migrate.auth.Auth;
import dev.stasis.snapshot.container.WriterOptions;
import dev.stasis.vm.VmConfig;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The training run of the build's class-data-sharing archive (tools/pom.xml runs it with
 * {@code -XX:ArchiveClassesAtExit=target/stasis.jsa}; bin/stasis starts every command with that archive):
 * runs the commands users run in fresh processes, and one loopback live migration, in this one JVM, so the
 * classes they load are archived
 * already parsed and verified. Without /dev/kvm only the commands that need none are trained. Never fails
 * the build: a command that fails here only means fewer archived classes.
 */
public final class CdsTraining {
    private CdsTraining() {}

    /**
     * A live migration of an idle guest between two machines of this JVM over loopback, pre-copy and then
     * post-copy: both ends' classes (those a post-copy loads run inside the guest's pause).
     */
    private static int migrateOnce() {
        return migrateOnce(MigrationSender.Options.of(new Auth.Insecure())) + migrateOnce(MigrationSender.Options.of(new Auth.Insecure()).withPostcopy(0, java.time.Duration.ofSeconds(10)));
    }

    private static int migrateOnce(MigrationSender.Options options) {
        Auth auth = new Auth.Insecure();
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
             Machine source = Machine.create(VmConfig.of(16 << 20, 1), OutputStream.nullOutputStream())) {
            source.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
            source.start();
            CompletableFuture<Machine> incoming = CompletableFuture.supplyAsync(
                    () -> MigrationReceiver.receive(server, OutputStream.nullOutputStream(), MigrationReceiver.Options.of(auth), l -> { }));
            MigrationSender.migrate(source, (InetSocketAddress) server.getLocalSocketAddress(), options, l -> { });
            incoming.get(30, TimeUnit.SECONDS).close();
            return 1;
        } catch (Exception | Error e) {
            return 0; // fewer classes archived, nothing worse
        }
    }

    /** A live snapshot of a running idle guest: the capture, write-protect and live-writer classes. */
    private static void liveSnapshotOnce(Path file) {
        try (Machine m = Machine.create(VmConfig.of(16 << 20, 1), OutputStream.nullOutputStream())) {
            m.boot(new BootSource.Flat(Guests.flatImage("idle"), Guests.defaults("idle")));
            m.start();
            try (LiveSnapshot live = LiveSnapshot.take(m)) {
                live.write(file, WriterOptions.defaults(), bytes -> { });
            }
        } catch (Exception | Error e) {
            // fewer classes archived, nothing worse (no userfaultfd here, say)
        }
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = System.out, err = System.err;
        Path dir = Files.createTempDirectory("stasis-cds");
        List<String[]> commands = new ArrayList<>();
        commands.add(new String[] {"cpu", "models"});
        commands.add(new String[] {"run", "--help"});
        if (Kvm.isAvailable()) {
            Path file = dir.resolve("hello.stasis");
            try (Machine m = Machine.create(VmConfig.of(16 << 20, 1), OutputStream.nullOutputStream())) {
                m.boot(new BootSource.Flat(Guests.flatImage("hello"), Guests.defaults("hello")));
                Checkpoint.save(m, file, WriterOptions.defaults());
            }
            String f = file.toString();
            commands.add(new String[] {"verify", f});
            commands.add(new String[] {"inspect", f});
            commands.add(new String[] {"inspect", f, "--json"});
            commands.add(new String[] {"cpu", "check", f});
            commands.add(new String[] {"diff", f, f});
            commands.add(new String[] {"restore", f, "--no-crash-dump"});
            commands.add(new String[] {"run", "hello", "--no-crash-dump"});
        }
        int migrations = Kvm.isAvailable() ? migrateOnce() : 0;
        if (Kvm.isAvailable()) {
            liveSnapshotOnce(dir.resolve("live.stasis"));
        }
        int ok = 0;
        try (PrintStream sink = new PrintStream(OutputStream.nullOutputStream())) {
            System.setOut(sink);
            System.setErr(sink);
            for (String[] c : commands) {
                try {
                    if (Stasis.commandLine(c).execute(c) == 0) {
                        ok++;
                    }
                } catch (RuntimeException e) {
                    // fewer classes archived, nothing worse
                }
            }
        } finally {
            System.setOut(out);
            System.setErr(err);
            try (var files = Files.list(dir)) {
                files.forEach(p -> p.toFile().delete());
            }
            Files.deleteIfExists(dir);
        }
        System.out.println("cds training: " + ok + " of " + commands.size() + " commands ran, " + migrations + " migration"
                + (Kvm.isAvailable() ? "" : " (no /dev/kvm)"));
        System.exit(0); // daemon threads (console input) must not keep the JVM alive; the archive is written at exit
    }
}
