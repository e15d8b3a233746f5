package dev.stasis.snapshot.container;

/** The checks a page reference (format 1.1; a splice in 1.4) gets before its source is believed, wherever chunks are read. */
final class PageReference {
    private PageReference() {}

    /**
     * Where the 4096 bytes of a reference come from: the page of its source (chunk and page index), from
     * {@link #offset} on, and for a splice the page whose first {@link #offset} bytes follow (-1 when aligned).
     */
    record Source(long source, long next, int chunk, int page, int nextChunk, int nextPage) {
        int offset() {
            return (int) (source % Layout.PAGE_SIZE);
        }
    }

    /**
     * Where the source of reference page {@code page} (at {@code gpa}) of the chunk {@code what} lies, after checking
     * it: the source page aligned, or with {@code next} (a splice, codecs 4 and 5; null for codecs 2 and 3) at any
     * offset, the page it goes on in page aligned; both lower than the page and inside guest RAM. An aligned source of a
     * splice must name itself as its next page. Whether the pages are stored the caller checks once they are decoded.
     */
    static Source locate(String what, int page, long gpa, long source, Long next, long[] chunkGpas, MemoryMap.Chunk[] chunks) {
        long first = source - Long.remainderUnsigned(source, Layout.PAGE_SIZE);
        boolean splice = source != first;
        String problem = null;
        if (next == null && splice) {
            problem = "which is not page aligned";
        } else if (source == gpa) {
            problem = "itself";
        } else if (Long.compareUnsigned(source, gpa) > 0) {
            problem = "a later page (references point to lower addresses)";
        } else if (next != null && !splice && next != source) {
            problem = "whole, but names gpa " + Layout.hex(next) + " as its next page (an aligned source names itself)";
        } else if (splice && next % Layout.PAGE_SIZE != 0) {
            problem = "going on in gpa " + Layout.hex(next) + ", which is not page aligned";
        } else if (splice && Long.compareUnsigned(next, gpa) >= 0) {
            problem = "going on in gpa " + Layout.hex(next) + ", which is not a lower page";
        }
        int c = -1;
        int n = -1;
        if (problem == null) {
            c = ChunkAccess.chunkOf(first, chunkGpas, chunks);
            n = splice ? ChunkAccess.chunkOf(next, chunkGpas, chunks) : -1;
            if (c < 0 || splice && n < 0) {
                problem = c < 0 ? "which is outside guest RAM" : "going on in gpa " + Layout.hex(next) + ", which is outside guest RAM";
            }
        }
        if (problem != null) {
            throw ChunkDecoder.malformed(what, "page " + page + " (gpa " + Layout.hex(gpa) + ") refers to gpa " + Layout.hex(source) + ", " + problem);
        }
        return new Source(source, splice ? next : -1, c, pageIn(first, c, chunks), n, n < 0 ? -1 : pageIn(next, n, chunks));
    }

    private static int pageIn(long gpa, int c, MemoryMap.Chunk[] chunks) {
        return (int) ((gpa - chunks[c].gpa()) / Layout.PAGE_SIZE);
    }

    /** The refusal of a reference whose source page {@code sourcePage} (in chunk {@code c}) is zero or a reference itself. */
    static RuntimeException notStored(String what, int page, long gpa, long source, long sourcePage, int c) {
        return ChunkDecoder.malformed(what, "page " + page + " (gpa " + Layout.hex(gpa) + ") refers to gpa " + Layout.hex(source)
                + (sourcePage == source ? "" : " (page " + Layout.hex(sourcePage) + ")")
                + ", which is not a stored page of chunk " + c + " (it is zero or a reference itself)");
    }
}
