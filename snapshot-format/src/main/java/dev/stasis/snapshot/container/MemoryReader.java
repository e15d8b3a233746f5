package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Reads guest memory in two parallel passes, each thread taking the next chunk in file order:
 * <ol>
 * <li>decode: every chunk checked, its stored pages (and zero pages, for a sink not zeroed) written;
 * <li>resolve (only when some chunk has references, format 1.1): every reference checked against what
 *     pass 1 found (aligned, or a splice of two pages for codecs 4 and 5; lower than its page, inside
 *     chunks, on stored pages) and its source bytes copied. Sources are stored pages, which pass 2 never writes, so chunks resolve in any
 *     order.
 * </ol>
 * Reading stops at the first bad chunk; checking (no sink) goes on and reports each bad chunk.
 */
final class MemoryReader {
    /** The chunks, their blocks and the file: the same view a lazy restore reads through. */
    private final ChunkAccess access;
    private final FileBlocks file;
    private final MemoryMap map;
    private final MemoryMap.Chunk[] chunks;

    MemoryReader(ChunkAccess access) {
        this.access = access;
        this.file = access.file;
        this.map = access.map;
        this.chunks = access.chunks;
    }

    /** One pass over the chunks on a pool: the task for chunk i; a format problem is about that chunk. */
    private interface ChunkTask {
        void run(int chunk, ChunkDecoder decoder) throws IOException;
    }

    /**
     * @param sink     null to check only
     * @param problems where a check collects problems; null to stop at the first
     */
    MemoryStats run(GuestRamSink sink, boolean sinkZeroed, int threads, List<Problem> problems, java.util.function.LongConsumer progress)
            throws IOException {
        long t0 = System.nanoTime();
        AtomicLong stored = new AtomicLong();
        AtomicLong referenced = new AtomicLong();
        ChunkDecoder.Decoded[] decoded = new ChunkDecoder.Decoded[chunks.length];
        List<Found> found = new ArrayList<>();
        int n = Math.max(1, Math.min(threads, chunks.length));
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "stasis-restore-zstd-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            pass(pool, n, problems, found, true, (i, decoder) -> {
                ChunkDecoder.Decoded d = decoder.decode(chunks[i], access.blockIndex[i], access.offsets[i], access.lengths[i], sink, sinkZeroed);
                stored.addAndGet(d.storedPages());
                referenced.addAndGet(d.refPages().length);
                decoded[i] = d;
                progress.accept(chunks[i].length());
            });
            if (referenced.get() > 0) {
                pass(pool, n, problems, found, false, (i, decoder) -> {
                    if (decoded[i] != null && decoded[i].refPages().length > 0) {
                        resolve(i, decoded, sink);
                    }
                });
            }
        } finally {
            pool.shutdownNow();
        }
        if (problems != null) {
            // Chunk order, whatever thread found them.
            found.sort(java.util.Comparator.comparingInt(Found::chunk));
            found.forEach(x -> problems.add(x.problem()));
        }
        long pages = map.totalBytes() / Layout.PAGE_SIZE;
        return new MemoryStats(chunks.length, pages, pages - stored.get() - referenced.get(), stored.get(), referenced.get(),
                Arrays.stream(access.lengths).sum(), Duration.ofNanos(System.nanoTime() - t0));
    }

    /** Checks every reference of chunk {@code i} and, with a sink, copies each source page to its page. */
    private void resolve(int i, ChunkDecoder.Decoded[] decoded, GuestRamSink sink) {
        MemoryMap.Chunk chunk = chunks[i];
        ChunkDecoder.Decoded d = decoded[i];
        ByteBuffer window = sink == null ? null : sink.window(chunk.gpa(), chunk.length());
        if (sink != null && (window == null || window.remaining() < chunk.length())) {
            throw new SnapshotFormatException(SnapshotFormatException.Kind.INVALID_INPUT, ChunkDecoder.describe(access.stream, chunk, access.blockIndex[i], access.offsets[i])
                    + ": the guest RAM sink gave a window of " + (window == null ? 0 : window.remaining()) + " bytes for " + chunk.length());
        }
        int base = window == null ? 0 : window.position();
        String what = ChunkDecoder.describe(access.stream, chunk, access.blockIndex[i], access.offsets[i]); // once a chunk, not per reference
        for (int k = 0; k < d.refPages().length; k++) {
            int page = d.refPages()[k];
            long gpa = chunk.gpa() + (long) page * Layout.PAGE_SIZE;
            long source = d.refSources()[k];
            PageReference.Source at = PageReference.locate(what, page, gpa, source, d.refNext() == null ? null : d.refNext()[k], access.chunkGpas, chunks);
            if (decoded[at.chunk()] == null || at.nextChunk() >= 0 && decoded[at.nextChunk()] == null) {
                continue; // its chunk is bad and reported already (check only)
            }
            if (!decoded[at.chunk()].stored(at.page())) {
                throw PageReference.notStored(what, page, gpa, source, source - at.offset(), at.chunk());
            }
            if (at.nextChunk() >= 0 && !decoded[at.nextChunk()].stored(at.nextPage())) {
                throw PageReference.notStored(what, page, gpa, source, at.next(), at.nextChunk());
            }
            if (window != null) {
                int head = Layout.PAGE_SIZE - at.offset();
                ByteBuffer from = sink.window(source - at.offset(), Layout.PAGE_SIZE);
                window.put(base + page * Layout.PAGE_SIZE, from, from.position() + at.offset(), head);
                if (at.offset() != 0) {
                    ByteBuffer rest = sink.window(at.next(), Layout.PAGE_SIZE);
                    window.put(base + page * Layout.PAGE_SIZE + head, rest, rest.position(), at.offset());
                }
            }
        }
    }

    private void pass(ExecutorService pool, int n, List<Problem> problems, List<Found> found, boolean decoder, ChunkTask task) throws IOException {
        AtomicInteger next = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int w = 0; w < n; w++) {
                workers.add(pool.submit(() -> {
                    try (ChunkDecoder d = decoder ? new ChunkDecoder(file, access.type, access.stream, map.chunkSize()) : null) {
                        for (int i = next.getAndIncrement(); i < chunks.length && failure.get() == null; i = next.getAndIncrement()) {
                            try {
                                task.run(i, d);
                            } catch (SnapshotFormatException e) {
                                if (problems == null) {
                                    failure.compareAndSet(null, e);
                                } else {
                                    synchronized (found) {
                                        found.add(new Found(i, Problem.of(e)));
                                    }
                                }
                            }
                        }
                    } catch (IOException | RuntimeException | Error e) {
                        failure.compareAndSet(null, e);
                    }
                    return null;
                }));
            }
            for (Future<?> f : workers) {
                f.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while reading guest memory");
        } catch (ExecutionException e) {
            failure.compareAndSet(null, e.getCause());
        }
        Throwable f = failure.get();
        if (f instanceof IOException io) {
            throw io;
        }
        if (f instanceof RuntimeException r) {
            throw r;
        }
        if (f instanceof Error err) {
            throw err;
        }
        if (f != null) {
            throw new UncheckedIOException(new IOException(f));
        }
    }

    private record Found(int chunk, Problem problem) {}
}
