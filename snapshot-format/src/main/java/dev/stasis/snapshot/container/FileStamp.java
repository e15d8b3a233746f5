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

    /** The attributes a stamp is made of, for {@link Files#readAttributes(Path, String, java.nio.file.LinkOption...)}. */
    static final String ATTRIBUTES = "unix:dev,ino,size,lastModifiedTime,ctime";

    /** The stamp of what {@code path} names now (links followed). */
    public static FileStamp of(Path path) throws IOException {
        return of(Files.readAttributes(path, ATTRIBUTES));
    }

    /** The stamp in attributes read with (at least) {@link #ATTRIBUTES}. */
    static FileStamp of(Map<String, Object> a) {
        return new FileStamp((Long) a.get("dev"), (Long) a.get("ino"), (Long) a.get("size"),
                nanos(a.get("lastModifiedTime")), nanos(a.get("ctime")));
    }

    /**
     * Whether the file has stood unchanged for a second: only then can a stamp vouch for the content. File times
     * advance by the kernel's tick, so a write just after a stamp was taken may leave the stamp as it was (git's
     * "racily clean" entries; the same cure).
     */
    public boolean settled() {
        return changedNanos < (System.currentTimeMillis() - SETTLE_MILLIS) * 1_000_000L;
    }

    /** How long a file stands unchanged before its stamp is {@link #settled}. */
    public static final long SETTLE_MILLIS = 1000;

    private static long nanos(Object time) {
        return ((FileTime) time).to(TimeUnit.NANOSECONDS);
    }

    /** The stamp as a file name: {@code dev-ino-size-mtime-ctime}, all decimal. */
    public String fileName() {
        return device + "-" + inode + "-" + size + "-" + modifiedNanos + "-" + changedNanos;
    }
}
