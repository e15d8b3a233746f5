package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Decodes every chunk on several threads, each taking the next chunk in file order. Reading stops at
 * the first bad chunk; checking (no sink) goes on and reports each bad chunk.
 */
final class MemoryReader {
    private final FileBlocks file;
    private final MemoryMap map;
    private final MemoryMap.Chunk[] chunks;
    private final int[] blockIndex;
    private final long[] offsets;
    private final long[] lengths;

    MemoryReader(FileBlocks file, MemoryMap map, int[] blockIndex, long[] offsets, long[] lengths) {
        this.file = file;
        this.map = map;
        this.chunks = map.chunks();
        this.blockIndex = blockIndex;
        this.offsets = offsets;
        this.lengths = lengths;
    }

    /**
     * @param sink     null to check only
     * @param problems where a check collects problems; null to stop at the first
     */
    MemoryStats run(GuestRamSink sink, boolean sinkZeroed, int threads, List<Problem> problems) throws IOException {
        long t0 = System.nanoTime();
        AtomicInteger next = new AtomicInteger();
        AtomicLong stored = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Found> found = new ArrayList<>();
        int n = Math.max(1, Math.min(threads, chunks.length));
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(n, r -> {
            Thread t = new Thread(r, "stasis-restore-zstd-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<?>> workers = new ArrayList<>();
            for (int w = 0; w < n; w++) {
                workers.add(pool.submit(() -> {
                    try (ChunkDecoder decoder = new ChunkDecoder(file, map.chunkSize())) {
                        for (int i = next.getAndIncrement(); i < chunks.length && failure.get() == null; i = next.getAndIncrement()) {
                            try {
                                stored.addAndGet(decoder.decode(chunks[i], blockIndex[i], offsets[i], lengths[i], sink, sinkZeroed));
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
        } finally {
            pool.shutdownNow();
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
        if (problems != null) {
            // Chunk order, whatever thread found them.
            found.sort(java.util.Comparator.comparingInt(Found::chunk));
            found.forEach(x -> problems.add(x.problem()));
        }
        long pages = map.totalBytes() / Layout.PAGE_SIZE;
        return new MemoryStats(chunks.length, pages, pages - stored.get(), stored.get(),
                java.util.Arrays.stream(lengths).sum(), Duration.ofNanos(System.nanoTime() - t0));
    }

    private record Found(int chunk, Problem problem) {}
}
