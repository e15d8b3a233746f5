package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.codec.Encoder;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The DISK_MAP block (since 1.3): a disk's id (string), its size in bytes (u64), page size (u32, 4096) and chunk size
 * (u32). Its content is one range from 0 to the size rounded up to a page, cut into chunks as a MEMORY_MAP range is;
 * the DISK_CHUNK blocks that follow hold them.
 */
final class DiskMapCodec {
    static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,64}");
    static final long MAX_SIZE = 1L << 52;

    private DiskMapCodec() {}

    /** One disk's content in a file: its id, size and chunking. */
    record DiskMap(String id, long size, MemoryMap map) {}

    static DiskMap of(String id, long size, int chunkSize, Kind kind) {
        if (id == null || !ID.matcher(id).matches()) {
            throw new SnapshotFormatException(kind, "disk id '" + id + "' must match " + ID.pattern());
        }
        if (size <= 0 || size > MAX_SIZE) {
            throw new SnapshotFormatException(kind, "disk " + id + ": size " + size + " is outside (0, 2^52]");
        }
        long pages = (size + Layout.PAGE_SIZE - 1) / Layout.PAGE_SIZE;
        return new DiskMap(id, size, MemoryMap.checked(Layout.PAGE_SIZE, chunkSize, List.of(new RamRange(0, pages * Layout.PAGE_SIZE)), kind));
    }

    static byte[] encode(DiskMap disk) {
        return new Encoder().string(disk.id()).u64(disk.size()).u32(disk.map().pageSize()).u32(disk.map().chunkSize()).toBytes();
    }

    static DiskMap decode(Decoder in) {
        String id = in.string("disk id", 64);
        long size = in.u64("disk size");
        int pageSize = in.u32("disk page size");
        int chunkSize = in.u32("disk chunk size");
        in.end("the disk map");
        if (pageSize != Layout.PAGE_SIZE) {
            throw in.malformed("disk " + id + ": page size " + Integer.toUnsignedString(pageSize) + ", not " + Layout.PAGE_SIZE);
        }
        try {
            return of(id, size, chunkSize, Kind.MALFORMED);
        } catch (SnapshotFormatException e) {
            throw e.within(in.at());
        }
    }
}
