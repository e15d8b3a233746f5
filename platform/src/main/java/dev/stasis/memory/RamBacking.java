package dev.stasis.memory;

import java.nio.file.Path;

/** Where guest RAM's pages come from until the guest writes them. */
public sealed interface RamBacking {
    /** Zero pages: anonymous private memory, populated as it is touched (the usual). */
    RamBacking ZERO = new Zero();

    record Zero() implements RamBacking {}

    /**
     * A raw image of guest RAM (its ranges back to back), mapped copy-on-write: a page read is the image file's
     * page-cache page, shared by every guest mapping the image; a page written becomes the guest's own. The file
     * must never change while mapped (a private mapping shows later writes to pages it has not copied).
     */
    record Image(Path file) implements RamBacking {}
}
