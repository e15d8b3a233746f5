package dev.stasis.snapshot.container;

import java.time.Duration;

/**
 * What a committed snapshot cost.
 *
 * @param memory      null when no memory was written
 * @param sections    time spent encoding and writing sections
 * @param commit      index, trailer, fsync and rename
 */
public record WriteReport(long bytes, int sectionCount, MemoryStats memory, Duration sections, Duration commit, Duration total) {}
