package dev.stasis.uffd;

import com.sun.jna.Pointer;

/**
 * One {@code UFFD_EVENT_PAGEFAULT} message: the faulting address (page-aligned, as the kernel reports it
 * without UFFD_FEATURE_EXACT_ADDRESS) and whether it is a write-protect fault (else a missing page).
 */
public record PageFault(long address, boolean writeProtect, boolean write) {
    /** Message {@code index} of a buffer {@link Userfaultfd#read} filled; null for an event other than a page fault. */
    static PageFault at(Pointer buffer, int index) {
        long at = (long) index * UffdLayout.MSG_SIZE;
        if ((buffer.getByte(at + UffdLayout.MSG_EVENT) & 0xff) != UffdLayout.UFFD_EVENT_PAGEFAULT) {
            return null;
        }
        long flags = buffer.getLong(at + UffdLayout.MSG_PAGEFAULT_FLAGS);
        return new PageFault(buffer.getLong(at + UffdLayout.MSG_PAGEFAULT_ADDRESS),
                (flags & UffdLayout.UFFD_PAGEFAULT_FLAG_WP) != 0, (flags & UffdLayout.UFFD_PAGEFAULT_FLAG_WRITE) != 0);
    }
}
