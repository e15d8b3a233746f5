package dev.stasis.memory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Which pages of this process's anonymous private mappings were ever populated, from
 * {@code /proc/self/pagemap}: a page neither present nor swapped out has never been written (or was
 * discarded), so it reads as zero and a snapshot need not read it. mincore(2) would not do: it calls a
 * swapped-out page non-resident, and that page is not zero.
 */
public final class PopulatedPages implements AutoCloseable {
    private static final long PRESENT = 1L << 63;
    private static final long SWAPPED = 1L << 62;
    private static final int PAGE = 4096;

    private final FileChannel pagemap;

    private PopulatedPages(FileChannel pagemap) {
        this.pagemap = pagemap;
    }

    /** Null where /proc/self/pagemap cannot be read (then nothing is known to be zero). */
    public static PopulatedPages open() {
        try {
            return new PopulatedPages(FileChannel.open(Path.of("/proc/self/pagemap"), StandardOpenOption.READ));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    /** True when no page of the host range {@code [address, address + length)} was ever populated. */
    public boolean noneIn(long address, long length) {
        return walk(address, length, null) == NONE;
    }

    /** The populated pages of the host range, bit i of word i/64 for page i; null when pagemap cannot be read. */
    public long[] populated(long address, long length) {
        long[] bits = new long[(int) ((length / PAGE + 63) / 64)];
        return walk(address, length, bits) == UNREADABLE ? null : bits;
    }

    private static final int NONE = 0, SOME = 1, UNREADABLE = 2;

    /**
     * Reads the pagemap entries of the range: with {@code bits} null, stops at the first populated page
     * (SOME); otherwise sets a bit per populated page and reads on.
     */
    private int walk(long address, long length, long[] bits) {
        long first = address / PAGE;
        long pages = (length + PAGE - 1) / PAGE;
        ByteBuffer entries = ByteBuffer.allocate((int) Math.min(pages, 1 << 16) * 8).order(ByteOrder.nativeOrder());
        int found = NONE;
        try {
            for (long done = 0; done < pages; ) {
                int n = (int) Math.min(pages - done, entries.capacity() / 8);
                entries.clear().limit(n * 8);
                long position = (first + done) * 8;
                while (entries.hasRemaining()) {
                    if (pagemap.read(entries, position + entries.position()) < 0) {
                        return UNREADABLE;
                    }
                }
                for (int i = 0; i < n; i++) {
                    if ((entries.getLong(i * 8) & (PRESENT | SWAPPED)) != 0) {
                        if (bits == null) {
                            return SOME;
                        }
                        long page = done + i;
                        bits[(int) (page >>> 6)] |= 1L << page;
                        found = SOME;
                    }
                }
                done += n;
            }
            return found;
        } catch (IOException e) {
            return UNREADABLE; // unknown is never "zero"
        }
    }

    @Override
    public void close() {
        try {
            pagemap.close();
        } catch (IOException ignored) {
            // Read-only procfs file: nothing to lose.
        }
    }
}
