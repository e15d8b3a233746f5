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
        long first = address / PAGE;
        long pages = (length + PAGE - 1) / PAGE;
        ByteBuffer entries = ByteBuffer.allocate((int) Math.min(pages, 1 << 16) * 8).order(ByteOrder.nativeOrder());
        try {
            for (long done = 0; done < pages; ) {
                int n = (int) Math.min(pages - done, entries.capacity() / 8);
                entries.clear().limit(n * 8);
                long position = (first + done) * 8;
                while (entries.hasRemaining()) {
                    if (pagemap.read(entries, position + entries.position()) < 0) {
                        return false;
                    }
                }
                for (int i = 0; i < n; i++) {
                    if ((entries.getLong(i * 8) & (PRESENT | SWAPPED)) != 0) {
                        return false;
                    }
                }
                done += n;
            }
            return true;
        } catch (IOException e) {
            return false; // unknown is never "zero"
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
