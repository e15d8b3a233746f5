package dev.stasis.snapshot.container;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Writes the CHUNK blocks in three passes, so the file does not depend on the thread count or scheduling:
 * <ol>
 * <li>scan, on a pool of threads: per chunk, which pages are non-zero and a hash of each ({@link PageDedup#scan});
 * <li>assign, on the calling thread, chunks in address order: each page whose hash an earlier page had
 *     gets that page as its duplicate candidate ({@link PageDedup#assign});
 * <li>encode, on the pool, at most a few chunks ahead of the writer: candidates confirmed byte for byte,
 *     stored pages compressed; blocks written strictly in order by the calling thread.
 * </ol>
 */
final class MemoryWriter {
    /** Where a written block goes: appends it and records it in the index. */
    interface BlockSink {
        void append(BlockType type, ByteBuffer block) throws IOException;
    }

    private final WriterOptions options;

    MemoryWriter(WriterOptions options) {
        this.options = options;
    }

    /** Writes the chunk blocks of {@code ram} as {@code map} cuts it, as blocks of {@code type} (CHUNK, or DISK_CHUNK for a disk). */
    MemoryStats write(GuestRam ram, MemoryMap map, BlockType type, BlockSink sink, java.util.function.LongConsumer progress) throws IOException {
        long t0 = System.nanoTime();
        MemoryMap.Chunk[] chunks = map.chunks();
        int threads = options.threads();
        int ahead = threads * 2;
        int blockSize = ChunkFormat.maxBlock(options.chunkSize());
        ConcurrentLinkedQueue<ChunkEncoder> encoders = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<ByteBuffer> buffers = new ConcurrentLinkedQueue<>();
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = options.workers().newThread(r);
            t.setName("stasis-snapshot-zstd-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ArrayDeque<Future<ChunkEncoder.Encoded>> inFlight = new ArrayDeque<>();
        long stored = 0;
        long referenced = 0;
        long pages = 0;
        long bytes = 0;
        try {
            PageDedup.Scan[] scans = scan(ram, chunks, pool, threads);
            PageDedup.assign(chunks, scans);
            long[] sources = PageDedup.sources(scans);
            int next = 0;
            int written = 0;
            while (next < chunks.length || !inFlight.isEmpty()) {
                while (next < chunks.length && inFlight.size() < ahead) {
                    MemoryMap.Chunk c = chunks[next];
                    PageDedup.Scan scan = scans[next];
                    scans[next++] = null;
                    inFlight.add(pool.submit(() -> {
                        ChunkEncoder e = encoders.poll();
                        if (e == null) {
                            e = new ChunkEncoder(type, options.zstdLevel(), options.chunkSize());
                        }
                        ByteBuffer b = buffers.poll();
                        try {
                            return e.encode(ram, c, scan, b != null ? b : ByteBuffer.allocateDirect(blockSize));
                        } finally {
                            encoders.add(e);
                        }
                    }));
                }
                ChunkEncoder.Encoded done = await(inFlight.poll());
                sink.append(type, done.block());
                releaseExcept(ram, chunks[written++], sources);
                progress.accept((long) done.pages() * Layout.PAGE_SIZE);
                pages += done.pages();
                stored += done.storedPages();
                referenced += done.referencedPages();
                bytes += done.block().limit();
                buffers.add(done.block());
            }
            for (long source : sources) {
                ram.release(source, Layout.PAGE_SIZE);
            }
        } finally {
            inFlight.forEach(f -> f.cancel(true));
            pool.shutdownNow();
            try {
                pool.awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            encoders.forEach(ChunkEncoder::close);
        }
        return new MemoryStats(chunks.length, pages, pages - stored - referenced, stored, referenced, bytes, Duration.ofNanos(System.nanoTime() - t0));
    }

    /** Releases {@code chunk} but the pages in {@code sources} (sorted), which later chunks still compare against. */
    private static void releaseExcept(GuestRam ram, MemoryMap.Chunk chunk, long[] sources) {
        long at = chunk.gpa();
        long end = chunk.gpa() + chunk.length();
        int i = java.util.Arrays.binarySearch(sources, at);
        for (i = i < 0 ? -i - 1 : i; i < sources.length && sources[i] < end; i++) {
            if (sources[i] > at) {
                ram.release(at, sources[i] - at);
            }
            at = sources[i] + Layout.PAGE_SIZE;
        }
        if (at < end) {
            ram.release(at, end - at);
        }
    }

    /** Pass 1: every chunk scanned on the pool, each thread taking the next chunk. */
    private static PageDedup.Scan[] scan(GuestRam ram, MemoryMap.Chunk[] chunks, ExecutorService pool, int threads) throws IOException {
        PageDedup.Scan[] scans = new PageDedup.Scan[chunks.length];
        long anchorMask = PageDedup.anchorMask(java.util.Arrays.stream(chunks).mapToLong(MemoryMap.Chunk::pages).sum());
        AtomicInteger next = new AtomicInteger();
        int workers = Math.max(1, Math.min(chunks.length, threads));
        java.util.List<Future<?>> futures = new java.util.ArrayList<>();
        for (int w = 0; w < workers; w++) {
            futures.add(pool.submit(() -> {
                for (int i = next.getAndIncrement(); i < chunks.length; i = next.getAndIncrement()) {
                    scans[i] = PageDedup.scan(ram, chunks[i], anchorMask);
                }
                return null;
            }));
        }
        for (Future<?> f : futures) {
            await(f);
        }
        return scans;
    }

    private static <T> T await(Future<T> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing guest memory");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new IOException("compressing guest memory failed: " + cause, cause);
        }
    }
}
