package dev.stasis.snapshot.container;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Which file, in which state: device, inode, size and the times of its last write and last change (nanoseconds).
 * Any write to a file, or a new file put at its path, gives another stamp (the change time moves on every write,
 * chmod and link); what is known of a file's content under one stamp, say its digest, holds for as long as the
 * stamp does.
 */
public record FileStamp(long device, long inode, long size, long modifiedNanos, long changedNanos) {

    /** The stamp of what {@code path} names now (links followed). */
    public static FileStamp of(Path path) throws IOException {
        Map<String, Object> a = Files.readAttributes(path, "unix:dev,ino,size,lastModifiedTime,ctime");
        return new FileStamp((Long) a.get("dev"), (Long) a.get("ino"), (Long) a.get("size"),
                nanos(a.get("lastModifiedTime")), nanos(a.get("ctime")));
    }

    private static long nanos(Object time) {
        return ((FileTime) time).to(TimeUnit.NANOSECONDS);
    }

    /** The stamp as a file name: {@code dev-ino-size-mtime-ctime}, all decimal. */
    public String fileName() {
        return device + "-" + inode + "-" + size + "-" + modifiedNanos + "-" + changedNanos;
    }
}
