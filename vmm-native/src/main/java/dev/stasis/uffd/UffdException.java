package dev.stasis.uffd;

import dev.stasis.os.NativeException;

/** A failed userfaultfd ioctl, named with its errno and the range it was about. */
public final class UffdException extends NativeException {
    public UffdException(UffdIoctl ioctl, int errno, String context) {
        super(ioctl.name(), errno, context);
    }
}
