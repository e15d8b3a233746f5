package dev.stasis.migrate.disks;

import dev.stasis.devices.virtio.blk.DiskImage;
import dev.stasis.devices.virtio.blk.VirtioBlk;
import dev.stasis.machine.Machine;
import dev.stasis.migrate.MigrationException;
import dev.stasis.migrate.MigrationException.Kind;
import dev.stasis.migrate.precopy.PageWriter;
import dev.stasis.migrate.protocol.Channel;
import dev.stasis.migrate.protocol.MessageType;
import dev.stasis.migrate.protocol.Protocol;
import dev.stasis.snapshot.codec.Encoder;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;

/**
 * {@code --copy-disks}, the source: every disk's blocks travel with the pre-copy, as RAM's pages do. Round 1 sends
 * every block that holds data (holes are skipped, as never-written RAM is); the image records which blocks the guest
 * changes from then on ({@link DiskImage#trackChanges}, the disk's dirty log) and each round sends those; the
 * stop-and-copy, with the disks' I/O held, sends the last. The blocks go as DISK_PAGES (varint disk slot, then a span
 * in the PAGES format, the disk's byte offset as its address), through the one page codec, span k of a disk on
 * connection k mod N, so a block sent again follows its older copy. The source's disks stay its own: nothing to hand back if the
 * move fails.
 */
public final class DiskCopySource implements AutoCloseable {
    private final List<VirtioBlk> disks;
    /** Per disk, the blocks changed and not yet sent again (bit n of word n/64). */
    private final long[][] pending;
    private final PageWriter writer;
    private final ByteBuffer span = ByteBuffer.allocateDirect(Protocol.MAX_SPAN * Protocol.PAGE_SIZE);
    private final Pointer spanPointer = Native.getDirectBufferPointer(span);

    /** Starts tracking every disk's changes: from here on, what the guest writes is sent again. */
    public DiskCopySource(Machine machine, long maxBandwidth) {
        this.disks = machine.disks();
        this.writer = new PageWriter(maxBandwidth);
        this.pending = new long[disks.size()][];
        for (int i = 0; i < disks.size(); i++) {
            DiskImage image = disks.get(i).image();
            image.trackChanges(true);
            long[] all = new long[(int) ((image.blocks() + 63) / 64)];
            Arrays.fill(all, -1L); // round 1: every block (holes found and skipped as it goes); bits past the end are never read
            pending[i] = all;
        }
    }

    /** What the SETUP announces per disk: string id, string path, u64 size, bool read-only; after a varint count. */
    public void describe(Encoder e) {
        e.varUnsigned(disks.size());
        for (VirtioBlk d : disks) {
            e.string(d.id()).string(d.image().path().toString()).u64(d.image().size()).bool(d.image().readOnly());
        }
    }

    /** Adds the blocks changed since the last call to those to send; returns how many are to send. */
    public long collect() {
        long n = 0;
        for (int i = 0; i < disks.size(); i++) {
            long[] changed = disks.get(i).image().takeChanged();
            for (int w = 0; w < changed.length; w++) {
                pending[i][w] |= changed[w];
                n += Long.bitCount(pending[i][w]);
            }
        }
        return n;
    }

    /** Called after each span sent, with the channel and the bytes it took: the sender's rate limit, deadline and cancel. */
    @FunctionalInterface
    public interface AfterSpan {
        void sent(Channel ch, long bytes);
    }

    /**
     * Sends every pending block; span k of a disk goes on {@code channels[k mod n]}, always, so a block sent again follows
     * its older copy on the same connection (and every connection has traffic while a large disk goes). Returns the
     * blocks sent.
     */
    public long send(List<Channel> channels, AfterSpan after) {
        long sent = 0;
        for (int i = 0; i < disks.size(); i++) {
            DiskImage image = disks.get(i).image();
            long blocks = image.blocks();
            int k = 0;
            for (long first = 0; first < blocks; first += Protocol.MAX_SPAN, k++) {
                int n = (int) Math.min(Protocol.MAX_SPAN, blocks - first);
                long[] marked = PageWriter.marked(n, pending[i], (int) (first / 64));
                if (PageWriter.count(marked) == 0) {
                    continue;
                }
                Channel ch = channels.get(k % channels.size());
                long before = ch.bytesSent();
                sent += sendSpan(ch, i, image, first, n, marked);
                Arrays.fill(pending[i], (int) (first / 64), (int) ((first + n + 63) / 64), 0L);
                after.sent(ch, ch.bytesSent() - before);
            }
        }
        return sent;
    }

    private int sendSpan(Channel ch, int slot, DiskImage image, long first, int n, long[] marked) {
        long[] zero = new long[marked.length];
        long base = first * Protocol.PAGE_SIZE;
        try {
            for (int w = 0; w < marked.length; w++) {
                if (marked[w] == 0) {
                    continue;
                }
                long at = base + (long) w * 64 * Protocol.PAGE_SIZE;
                long length = Math.min((long) 64 * Protocol.PAGE_SIZE, image.size() - at);
                if (!image.hasData(at, length)) {
                    zero[w] = marked[w]; // a hole: zeros, not read
                    continue;
                }
                // Each run of marked blocks in one read (round 1 reads 256 KiB at a time, not 4 KiB); where at least a
                // quarter of the blocks from the first marked to the last are, that whole range in one (a syscall a
                // run cost ~150 ms of a 128 MiB round of short runs here; the blocks read and not marked go nowhere).
                long v = marked[w];
                int lowest = Long.numberOfTrailingZeros(v), highest = 63 - Long.numberOfLeadingZeros(v);
                if (Long.bitCount(v) * 4 >= highest - lowest + 1) {
                    readBlocks(image, base, w * 64 + lowest, highest - lowest + 1);
                    continue;
                }
                while (v != 0) {
                    int from = Long.numberOfTrailingZeros(v);
                    int to = from + Long.numberOfTrailingZeros(~(v >>> from));
                    v = to == 64 ? 0 : v & (-1L << to);
                    readBlocks(image, base, w * 64 + from, to - from);
                }
            }
        } catch (IOException e) {
            throw new MigrationException(Kind.LOCAL, "disk " + disks.get(slot).id() + " could not be read for the copy: " + e.getMessage(), e);
        }
        return writer.sendSpan(ch, MessageType.DISK_PAGES, new Encoder().varUnsigned(slot), span.duplicate().clear(), base, n, marked, zero);
    }

    /** Reads {@code count} blocks from block {@code block} of the span at byte {@code base} into the span's buffer. */
    private void readBlocks(DiskImage image, long base, int block, int count) throws IOException {
        long offset = base + (long) block * Protocol.PAGE_SIZE;
        int wanted = count * Protocol.PAGE_SIZE;
        int len = (int) Math.min(wanted, image.size() - offset);
        Pointer into = spanPointer.share((long) block * Protocol.PAGE_SIZE);
        if (len < wanted) {
            into.setMemory(len, wanted - len, (byte) 0); // the disk's short last block, padded
        }
        image.read(offset, into, len);
    }

    /** Stops tracking the disks' changes (the migration is over, either way). */
    @Override
    public void close() {
        for (VirtioBlk d : disks) {
            d.image().trackChanges(false);
        }
    }
}
