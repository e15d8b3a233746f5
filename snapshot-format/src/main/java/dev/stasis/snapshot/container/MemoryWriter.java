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
 * Writes the CHUNK blocks: chunks are encoded (zero detection, zstd) on a pool of threads, at most a
 * few ahead of the writer, and written strictly in order by the calling thread, so the file does not
 * depend on the thread count or scheduling.
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

    MemoryStats write(GuestRam ram, MemoryMap map, BlockSink sink) throws IOException {
        long t0 = System.nanoTime();
        MemoryMap.Chunk[] chunks = map.chunks();
        int threads = options.threads();
        int ahead = threads * 2;
        int blockSize = ChunkFormat.maxBlock(options.chunkSize());
        ConcurrentLinkedQueue<ChunkEncoder> encoders = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<ByteBuffer> buffers = new ConcurrentLinkedQueue<>();
        AtomicInteger threadNo = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "stasis-snapshot-zstd-" + threadNo.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        ArrayDeque<Future<ChunkEncoder.Encoded>> inFlight = new ArrayDeque<>();
        long stored = 0;
        long pages = 0;
        long bytes = 0;
        try {
            int next = 0;
            while (next < chunks.length || !inFlight.isEmpty()) {
                while (next < chunks.length && inFlight.size() < ahead) {
                    MemoryMap.Chunk c = chunks[next++];
                    inFlight.add(pool.submit(() -> {
                        ChunkEncoder e = encoders.poll();
                        if (e == null) {
                            e = new ChunkEncoder(options.zstdLevel(), options.chunkSize());
                        }
                        ByteBuffer b = buffers.poll();
                        try {
                            return e.encode(ram, c, b != null ? b : ByteBuffer.allocateDirect(blockSize));
                        } finally {
                            encoders.add(e);
                        }
                    }));
                }
                ChunkEncoder.Encoded done = await(inFlight.poll());
                sink.append(BlockType.CHUNK, done.block());
                pages += done.pages();
                stored += done.storedPages();
                bytes += done.block().limit();
                buffers.add(done.block());
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
        return new MemoryStats(chunks.length, pages, pages - stored, stored, bytes, Duration.ofNanos(System.nanoTime() - t0));
    }

    private static ChunkEncoder.Encoded await(Future<ChunkEncoder.Encoded> f) throws IOException {
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
