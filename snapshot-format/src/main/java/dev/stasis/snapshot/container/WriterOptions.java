package dev.stasis.snapshot.container;

/**
 * How to write memory.
 *
 * @param zstdLevel 0 stores non-zero pages uncompressed; otherwise a zstd level from -7 (fastest) to 19
 * @param threads   compression threads (the file is the same for any count)
 * @param chunkSize bytes of guest memory per chunk: a power of two from 64 KiB to 16 MiB
 * @param workers   makes the compression threads (named and made daemons by the writer): plain threads by default;
 *                  a live snapshot's lower their priority, as the guest runs beside them
 */
public record WriterOptions(int zstdLevel, int threads, int chunkSize, java.util.concurrent.ThreadFactory workers) {
    public WriterOptions(int zstdLevel, int threads, int chunkSize) {
        this(zstdLevel, threads, chunkSize, Thread::new);
    }

    public WriterOptions {
        if (zstdLevel < -7 || zstdLevel > 19) {
            throw new IllegalArgumentException("zstd level must be -7..19 (0 = no compression), got " + zstdLevel);
        }
        if (threads < 1 || threads > 64) {
            throw new IllegalArgumentException("threads must be 1..64, got " + threads);
        }
        if (Integer.bitCount(chunkSize) != 1 || chunkSize < MemoryMap.MIN_CHUNK || chunkSize > MemoryMap.MAX_CHUNK) {
            throw new IllegalArgumentException("chunk size must be a power of two from 64 KiB to 16 MiB, got " + chunkSize);
        }
    }

    /** zstd level 1, one thread per core up to 4, 2 MiB chunks. */
    public static WriterOptions defaults() {
        return new WriterOptions(1, Math.min(4, Runtime.getRuntime().availableProcessors()), 2 << 20);
    }

    public WriterOptions withLevel(int level) {
        return new WriterOptions(level, threads, chunkSize, workers);
    }

    public WriterOptions withThreads(int n) {
        return new WriterOptions(zstdLevel, n, chunkSize, workers);
    }

    public WriterOptions withChunkSize(int bytes) {
        return new WriterOptions(zstdLevel, threads, bytes, workers);
    }

    public WriterOptions withWorkers(java.util.concurrent.ThreadFactory factory) {
        return new WriterOptions(zstdLevel, threads, chunkSize, factory);
    }
}
