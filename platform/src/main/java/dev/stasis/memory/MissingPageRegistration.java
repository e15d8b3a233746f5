package dev.stasis.memory;

import com.sun.jna.Pointer;
import dev.stasis.os.EventFd;
import dev.stasis.uffd.UffdLayout;
import dev.stasis.uffd.Userfaultfd;
import java.util.List;

/**
 * All of a guest's RAM under one userfaultfd in missing mode, with the eventfd that wakes its fault thread: the
 * ground both RAM fills ({@link LazyRam}, {@link RemoteRam}) serve faults on.
 */
final class MissingPageRegistration {
    final Userfaultfd uffd;
    final EventFd stop;
    private final GuestMemory memory;

    private MissingPageRegistration(GuestMemory memory, Userfaultfd uffd, EventFd stop) {
        this.memory = memory;
        this.uffd = uffd;
        this.stop = stop;
    }

    /**
     * Opens both, not yet registered. Throws {@link dev.stasis.uffd.UffdUnavailableException} naming what is
     * missing; nothing stays open when it throws.
     */
    static MissingPageRegistration open(GuestMemory memory) {
        Userfaultfd uffd = Userfaultfd.open(0, UffdLayout.UFFD_FEATURE_MOVE); // moving pages in where the kernel can (6.8)
        try {
            return new MissingPageRegistration(memory, uffd, new EventFd());
        } catch (RuntimeException | Error e) {
            uffd.close();
            throw e;
        }
    }

    /** Every range of RAM, missing mode: from here a touch of an unpopulated page waits for the fault thread. */
    void registerAll() {
        List<MemoryRange> ranges = memory.layout().ranges();
        for (int i = 0; i < ranges.size(); i++) {
            uffd.register(Pointer.nativeValue(memory.mapping(i).address()), ranges.get(i).size(), UffdLayout.UFFDIO_REGISTER_MODE_MISSING);
        }
    }

    /** Every page is in: RAM leaves userfaultfd, which wakes anyone still waiting. */
    void unregisterAll() {
        List<MemoryRange> ranges = memory.layout().ranges();
        for (int i = 0; i < ranges.size(); i++) {
            uffd.unregister(Pointer.nativeValue(memory.mapping(i).address()), ranges.get(i).size());
        }
    }

    /** Closes both (closing the userfaultfd unregisters and lets every waiting access through). */
    void close() {
        uffd.close();
        stop.close();
    }
}
