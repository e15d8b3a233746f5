package dev.stasis.migrate.protocol;

import dev.stasis.memory.MemoryRange;
import java.util.ArrayList;
import java.util.List;

/**
 * Guest RAM cut into PAGES spans of at most {@link Protocol#MAX_SPAN} pages, each inside one range, and which of
 * {@code n} connections carries which: span k goes on connection k mod n, always, so a page sent again later follows
 * its older copy on the same TCP stream and can never be overtaken by it.
 */
public final class Spans {
    private Spans() {}

    /** One span: range {@code slot}, from page {@code firstPage} of it (a multiple of 64), {@code pages} long. */
    public record Span(int slot, long gpa, long firstPage, int pages) {
        /** The first word of the span in a per-range bitmap (bit i of word i/64 for page i). */
        public int firstWord() {
            return (int) (firstPage / 64);
        }
    }

    /** The spans connection {@code conn} of {@code n} carries, in address order. */
    public static List<Span> of(List<MemoryRange> ranges, int conn, int n) {
        List<Span> out = new ArrayList<>();
        int index = 0;
        for (int slot = 0; slot < ranges.size(); slot++) {
            MemoryRange r = ranges.get(slot);
            long slotPages = r.size() / Protocol.PAGE_SIZE;
            for (long first = 0; first < slotPages; first += Protocol.MAX_SPAN, index++) {
                if (index % n == conn) {
                    out.add(new Span(slot, r.gpa() + first * Protocol.PAGE_SIZE, first, (int) Math.min(Protocol.MAX_SPAN, slotPages - first)));
                }
            }
        }
        return out;
    }
}
