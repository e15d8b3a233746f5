package dev.stasis.cli;

import dev.stasis.checkpoint.Checkpoint;
import dev.stasis.checkpoint.DiskRestore;
import dev.stasis.checkpoint.RestoreMode;
import dev.stasis.forensics.CrashDump;
import dev.stasis.forensics.Progress;
import dev.stasis.machine.Machine;
import dev.stasis.memory.LazyRam;
import dev.stasis.memory.RamBacking;
import dev.stasis.vm.VmExit;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code stasis restore}: starts a new VM from a snapshot file and runs it in the foreground. */
@Command(name = "restore", mixinStandardHelpOptions = true,
        description = {"Start the guest saved in FILE where it left off, its console joined to this terminal.",
                "Lazily by default where userfaultfd works: the guest starts at once and its memory arrives from FILE",
                "as it touches it and in the background; --eager reads all of it first.",
                "--cpus and --mem, when given, must match the file (a guest cannot change them under its feet)."})
final class RestoreCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "a snapshot file")
    Path file;

    @Option(names = "--api-socket", paramLabel = "PATH", description = "serve the control socket at PATH")
    Path apiSocket;

    @Option(names = "--cpus", paramLabel = "N", description = "refuse the file unless it holds N vCPUs")
    Integer cpus;

    @Option(names = "--mem", paramLabel = "SIZE", converter = SizeConverter.class, description = "refuse the file unless it holds SIZE of RAM")
    Long memory;

    @Option(names = "--eager", description = "read all guest memory before the guest starts (the default is lazy where userfaultfd works)")
    boolean eager;

    @Option(names = "--copy-pages", description = {"lazy: copy the file's non-zero pages in, 4 KiB each, rather than move whole chunks in decoded in place",
            "(the default where the kernel can, Linux 6.8: huge pages as --eager gets them, and its memory; copied, a guest holds only its",
            "non-zero pages, but a live snapshot of it protects 512 entries per 2 MiB)"})
    boolean copyPages;

    @Option(names = "--image-cache", paramLabel = "DIR", description = {"map guest memory copy-on-write from FILE's decoded image in DIR",
            "(made there once; every restore of the same file shares its pages: for many guests from one golden file)"})
    Path imageCache;

    @Option(names = "--disk", paramLabel = "ID=PATH", description = {"open the snapshot's disk ID at PATH instead of where it was saved (repeatable);",
            "it must still hold what the snapshot saw (see --disk-changed)"})
    Map<String, Path> diskPaths = new LinkedHashMap<>();

    /** What to do with a disk whose content, size or mode is not what the snapshot saw. */
    enum DiskChanged { refuse, accept }

    @Option(names = "--disk-changed", paramLabel = "refuse|accept", defaultValue = "refuse",
            description = {"a disk that changed since the snapshot: refuse the restore (default), or accept it with a warning",
                    "(the guest's memory then disagrees with its disk: its file system may be corrupted)"})
    DiskChanged diskChanged;

    @Mixin
    CrashDumpOptions crashDump = new CrashDumpOptions();

    @Mixin
    JailOptions jail = new JailOptions();

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        CrashDump dump = crashDump.dump();
        if (imageCache != null && jail.dir != null) {
            throw new IllegalArgumentException("--image-cache is not available in a --jail yet (the jail holds only the snapshot file)");
        }
        if (jail.dir != null && !diskPaths.isEmpty()) {
            throw new IllegalArgumentException("--disk is not available in a --jail yet (the jail holds only the snapshot file)");
        }
        jail.enterIfAsked(spec, List.of(file.toString()));
        long start = System.nanoTime();
        Machine machine;
        Checkpoint.Expect expect = new Checkpoint.Expect(cpus, memory);
        if (copyPages && (eager || imageCache != null)) {
            throw new IllegalArgumentException("--copy-pages is how a lazy restore fills memory: not with --eager or --image-cache");
        }
        if (eager && imageCache != null) {
            throw new IllegalArgumentException("--eager and --image-cache exclude each other: an image is mapped, not read");
        }
        DiskRestore disks = new DiskRestore(diskPaths, diskChanged == DiskChanged.accept);
        if (imageCache != null) {
            machine = Checkpoint.restore(file, new FileOutputStream(FileDescriptor.out), expect, RestoreMode.sharedImage(imageCache), bytes -> { }, disks);
        } else if (eager) {
            try (Progress progress = Progress.start("restore", Progress.snapshotMemoryBytes(file))) {
                machine = Checkpoint.restore(file, new FileOutputStream(FileDescriptor.out), expect, RestoreMode.EAGER, progress, disks);
            }
        } else {
            RestoreMode lazy = copyPages ? RestoreMode.LAZY.recordingOrder().copyingPages() : RestoreMode.LAZY.recordingOrder();
            machine = Checkpoint.restore(file, new FileOutputStream(FileDescriptor.out), expect, lazy, bytes -> { }, disks);
        }
        LazyRam lazy = machine.memory().lazyRestore();
        System.err.printf("stasis: restored %s (%d vCPUs, %d MiB, CPU %s) in %.0f ms%s%n", file, machine.vm().config().vcpus(),
                machine.vm().config().layout().totalSize() >> 20, machine.vm().config().cpu().describe(), (System.nanoTime() - start) / 1e6,
                lazy != null ? "; its memory arrives while it runs"
                        : machine.memory().backing() instanceof RamBacking.Image image ? "; its memory is mapped from " + image.file() : "");
        machine.notes().forEach(n -> System.err.println("stasis: warning: " + n));
        if (lazy != null) {
            lazy.whenDone(() -> {
                LazyRam.Stats s = lazy.stats();
                if (lazy.failure() == null && s.residentNanos() >= 0) {
                    System.err.printf("stasis: all guest memory in place %.0f ms after the restore began (%d chunks on fault, %d fetched ahead, %d moved in)%n",
                            (System.nanoTime() - start) / 1e6, s.chunksOnFault(), s.chunksPrefetched(), s.chunksMoved());
                }
            });
        }
        VmExit exit = ForegroundVm.run(machine, apiSocket, dump);
        if (exit.kind() == VmExit.Kind.RESET) {
            System.err.println("stasis: the restored guest asked for a reset; it has no boot image here to boot again");
        }
        ForegroundVm.report(exit);
        return exit.processStatus();
    }
}
