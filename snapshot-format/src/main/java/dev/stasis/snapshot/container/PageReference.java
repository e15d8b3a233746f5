package dev.stasis.snapshot.container;

/** The checks a page reference (format 1.1) gets before its source page is believed, wherever chunks are read. */
final class PageReference {
    private PageReference() {}

    /**
     * The chunk holding {@code source}, the page that page {@code page} (at {@code gpa}) of the chunk {@code what}
     * refers to, after checking it is page aligned, lower than the page and inside guest RAM. Whether it is a
     * stored page the caller checks once that chunk is decoded.
     */
    static int sourceChunk(String what, int page, long gpa, long source, long[] chunkGpas, MemoryMap.Chunk[] chunks) {
        String problem = null;
        int c = -1;
        if (source % Layout.PAGE_SIZE != 0) {
            problem = "which is not page aligned";
        } else if (source == gpa) {
            problem = "itself";
        } else if (Long.compareUnsigned(source, gpa) > 0) {
            problem = "a later page (references point to lower addresses)";
        } else {
            c = ChunkAccess.chunkOf(source, chunkGpas, chunks);
            if (c < 0) {
                problem = "which is outside guest RAM";
            }
        }
        if (problem != null) {
            throw ChunkDecoder.malformed(what, "page " + page + " (gpa " + Layout.hex(gpa) + ") refers to gpa " + Layout.hex(source) + ", " + problem);
        }
        return c;
    }

    /** The refusal of a reference whose source page is zero or a reference itself in chunk {@code c}. */
    static RuntimeException notStored(String what, int page, long gpa, long source, int c) {
        return ChunkDecoder.malformed(what, "page " + page + " (gpa " + Layout.hex(gpa) + ") refers to gpa " + Layout.hex(source)
                + ", which is not a stored page of chunk " + c + " (it is zero or a reference itself)");
    }
}
