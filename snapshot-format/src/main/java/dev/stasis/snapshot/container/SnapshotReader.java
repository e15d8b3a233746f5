package dev.stasis.snapshot.container;

import dev.stasis.snapshot.SnapshotFormatException;
import dev.stasis.snapshot.SnapshotFormatException.Kind;
import dev.stasis.snapshot.codec.Decoder;
import dev.stasis.snapshot.state.StateDescription;
import dev.stasis.snapshot.state.StateException;
import dev.stasis.snapshot.state.StateRecord;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a snapshot file, treating it as untrusted. {@link #open} checks header, trailer, index,
 * manifest, section heads and memory map (bounds of every offset and length, every CRC); section
 * records are decoded on demand by the file's own schemas, memory chunks when {@link #readMemory} runs.
 * Every problem with the file is a {@link SnapshotFormatException}. Safe for concurrent reads once open.
 */
public final class SnapshotReader implements AutoCloseable {
    private static final int MAX_INDEX = 256 << 20;

    private final Path path;
    private final FileChannel channel;
    private final FileBlocks file;
    /** The file this reader has open, when that could be told for certain (see {@link #stamp}). */
    private FileStamp stamp;
    /** The states {@link #load} decoded, shared by every reader of the file while it is kept; null when it is not. */
    private Map<Decoded, Object> decoded;
    private FormatVersion version;
    private final List<IndexEntry> entries = new ArrayList<>();
    private Manifest manifest;
    private final List<SectionBlock> sections = new ArrayList<>();
    private final Map<String, SectionBlock> byKey = new HashMap<>();
    private MemoryMap memoryMap;
    private int[] chunkBlocks = new int[0];
    /** The disks whose content the file holds, in file order, each with its DISK_CHUNK blocks (since 1.3). */
    private final List<DiskStream> disks = new ArrayList<>();

    private record DiskStream(DiskMapCodec.DiskMap map, List<Integer> blocks) {}

    /**
     * What {@link #load} found in a file. The golden-image case opens one file again and again (a test suite's every
     * clone), and checking its index, manifest and sections' schemas each time took milliseconds while the JIT was
     * still cold; so the process keeps what it found in the last few files, by {@link FileStamp}: a file with the
     * same stamp has the same bytes (only settled stamps are kept; see {@link FileStamp#settled}). What {@link #load}
     * decoded of its sections is kept with it ({@code decoded}: states are immutable records, and decoding a vCPU's
     * took 0.5-1 ms of each clone); memory chunks are still read and checked from the file itself.
     */
    private record Parsed(FormatVersion version, List<IndexEntry> entries, Manifest manifest, List<SectionBlock> sections,
                          MemoryMap memoryMap, int[] chunkBlocks, List<DiskStream> disks, Map<Decoded, Object> decoded) {
        private static final int KEPT = 8;
        private static final Map<FileStamp, Parsed> RECENT = new java.util.LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<FileStamp, Parsed> eldest) {
                return size() > KEPT;
            }
        };

        static synchronized Parsed of(FileStamp stamp) {
            return RECENT.get(stamp);
        }

        static synchronized void keep(FileStamp stamp, Parsed parsed) {
            RECENT.put(stamp, parsed);
        }
    }

    /** A section decoded as {@code description} (by identity: each is a constant of its state's type). */
    private record Decoded(StateDescription<?> description, int instance) {}

    /** A disk whose content the file holds (since 1.3): its id and size in bytes. */
    public record DiskContent(String id, long size) {}

    private SnapshotReader(Path path, FileChannel channel) throws IOException {
        this.path = path;
        this.channel = channel;
        this.file = new FileBlocks(channel, channel.size());
    }

    public static SnapshotReader open(Path path) throws IOException {
        Map<String, Object> a = java.nio.file.Files.readAttributes(path, FileStamp.ATTRIBUTES + ",isRegularFile,isDirectory,isOther");
        if (!(Boolean) a.get("isRegularFile")) {
            String what = (Boolean) a.get("isDirectory") ? "a directory" : (Boolean) a.get("isOther") ? "a pipe, socket or device" : "not a regular file";
            throw new SnapshotFormatException(Kind.INVALID_INPUT, path + " is " + what + ": a snapshot is read at random offsets"
                    + " (its index is at its end, and a lazy restore reads chunks as the guest needs them), so it must be a regular file");
        }
        FileStamp before = FileStamp.of(a);
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            SnapshotReader r = new SnapshotReader(path, ch);
            FileStamp after = FileStamp.of(path);
            if (before.equals(after) && after.size() == r.file.size()) {
                r.stamp = after; // the path named one unchanged file before and after the open: the one opened
            }
            Parsed known = r.stamp == null ? null : Parsed.of(r.stamp);
            if (known != null) {
                r.take(known);
            } else {
                r.load();
                if (r.stamp != null && r.stamp.settled()) {
                    r.decoded = new java.util.concurrent.ConcurrentHashMap<>();
                    Parsed.keep(r.stamp, r.parsed());
                }
            }
            return r;
        } catch (SnapshotFormatException e) {
            ch.close();
            throw e.getMessage().startsWith(path.toString()) ? e : e.within(path.toString());
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** Everything wrong with the file at {@code path}; empty when it is sound. */
    public static List<Problem> verify(Path path) throws IOException {
        try (SnapshotReader r = open(path)) {
            return r.verify();
        } catch (SnapshotFormatException e) {
            return List.of(Problem.of(e));
        }
    }

    public Path path() {
        return path;
    }

    public long size() {
        return file.size();
    }

    public FormatVersion formatVersion() {
        return version;
    }

    public Manifest manifest() {
        return manifest;
    }

    /** Sections in file order. */
    public List<SectionInfo> sections() {
        return sections.stream().map(SectionBlock::info).toList();
    }

    /** True when the file holds section {@code name}, instance {@code instance}. */
    public boolean hasSection(String name, int instance) {
        return sections.stream().anyMatch(b -> b.info().name().equals(name) && b.info().instance() == instance);
    }

    /** The memory map, or null when the file holds no guest memory. */
    public MemoryMap memoryMap() {
        return memoryMap;
    }

    /** Number of blocks between header and trailer, index excluded. */
    public int blockCount() {
        return entries.size();
    }

    /** The section's record, decoded by the file's schema alone. */
    public StateRecord record(String name, int instance) {
        return section(name, instance).record();
    }

    /** The section {@code description.name()} at {@code instance}, loaded through the description from the file's version. */
    @SuppressWarnings("unchecked")
    public <S> S load(StateDescription<S> description, int instance) {
        if (decoded == null) {
            return decode(description, instance);
        }
        return (S) decoded.computeIfAbsent(new Decoded(description, instance), d -> decode(description, instance)); // a failure is not kept
    }

    private <S> S decode(StateDescription<S> description, int instance) {
        SectionBlock s = section(description.name(), instance);
        StateRecord r = s.record();
        try {
            return description.load(r, s.info().version());
        } catch (StateException e) {
            throw new SnapshotFormatException(Kind.INCOMPATIBLE_STATE, s.where() + ": " + e.getMessage(), e);
        }
    }

    /** Fills guest memory, decompressing on one thread per core (up to 4). */
    public MemoryStats readMemory(GuestRamSink sink, boolean sinkIsZeroed) throws IOException {
        return readMemory(sink, sinkIsZeroed, bytes -> { });
    }

    /** {@link #readMemory(GuestRamSink, boolean)}, telling {@code progress} the guest bytes of each chunk decoded. */
    public MemoryStats readMemory(GuestRamSink sink, boolean sinkIsZeroed, java.util.function.LongConsumer progress) throws IOException {
        return readMemory(sink, sinkIsZeroed, Math.min(4, Runtime.getRuntime().availableProcessors()), progress);
    }

    /**
     * Fills guest memory from the chunks on {@code threads} threads, straight into the sink's windows.
     * With {@code sinkIsZeroed} zero pages are skipped; otherwise they are written as zeros. On failure the
     * sink holds partial contents and must not run.
     */
    public MemoryStats readMemory(GuestRamSink sink, boolean sinkIsZeroed, int threads) throws IOException {
        return readMemory(sink, sinkIsZeroed, threads, bytes -> { });
    }

    /** {@link #readMemory(GuestRamSink, boolean, int)}, telling {@code progress} the guest bytes of each chunk decoded. */
    public MemoryStats readMemory(GuestRamSink sink, boolean sinkIsZeroed, int threads, java.util.function.LongConsumer progress)
            throws IOException {
        if (memoryMap == null) {
            throw new SnapshotFormatException(Kind.NOT_FOUND, path + " holds no guest memory");
        }
        return memoryReader().run(sink, sinkIsZeroed, threads, null, progress);
    }

    /**
     * Checks every block's CRC and every structure: section records by their schemas, every chunk
     * decoded. Returns what is wrong, each naming block, section or chunk and offset; empty when sound.
     */
    public List<Problem> verify() throws IOException {
        List<Problem> problems = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            IndexEntry e = entries.get(i);
            if (e.type() == BlockType.CHUNK.code || e.type() == BlockType.DISK_CHUNK.code) {
                continue; // checked as they are decoded, below
            }
            try {
                file.checkStreaming(e.offset(), e.length(), e.type(), where(i));
            } catch (SnapshotFormatException x) {
                problems.add(Problem.of(x));
            }
        }
        for (SectionBlock s : sections) {
            try {
                s.record();
            } catch (SnapshotFormatException x) {
                problems.add(Problem.of(x));
            }
        }
        int threads = Math.min(4, Runtime.getRuntime().availableProcessors());
        if (memoryMap != null) {
            memoryReader().run(null, true, threads, problems, bytes -> { });
        }
        for (DiskContent d : disks()) {
            new MemoryReader(diskAccess(d.id())).run(null, true, threads, problems, bytes -> { });
        }
        return problems;
    }

    /** Per chunk, without decompressing: stored pages and block size (for inspect). */
    public List<ChunkSummary> chunkSummaries() throws IOException {
        return memoryMap == null ? new ArrayList<>() : chunkSummaries(memoryMap, chunkBlocks, "");
    }

    /** {@link #chunkSummaries()} of disk {@code id}'s content (offsets for guest addresses). */
    public List<ChunkSummary> diskChunkSummaries(String id) throws IOException {
        ChunkAccess a = diskAccess(id);
        return chunkSummaries(a.map, a.blockIndex, a.stream);
    }

    private List<ChunkSummary> chunkSummaries(MemoryMap map, int[] chunkBlocks, String stream) throws IOException {
        List<ChunkSummary> out = new ArrayList<>();
        MemoryMap.Chunk[] chunks = map.chunks();
        for (MemoryMap.Chunk c : chunks) {
            IndexEntry e = entries.get(chunkBlocks[c.index()]);
            int bitmapLen = ChunkFormat.bitmapBytes(c.pages());
            int head = Layout.FRAME_HEAD + ChunkFormat.HEAD + 2 * bitmapLen;
            String what = stream + "chunk " + c.index() + " (block " + chunkBlocks[c.index()] + " at offset " + e.offset() + ")";
            if (e.length() < head - bitmapLen + 4) {
                throw new SnapshotFormatException(Kind.MALFORMED, what + ": block of " + e.length() + " bytes is shorter than its header");
            }
            ByteBuffer b = ByteBuffer.wrap(file.read(e.offset(), (int) Math.min(head, e.length()), what)).order(ByteOrder.LITTLE_ENDIAN);
            int codec = b.get(20);
            boolean refs = ChunkFormat.hasRefs(codec);
            if (refs && e.length() < head + 4) {
                throw new SnapshotFormatException(Kind.MALFORMED, what + ": block of " + e.length() + " bytes is shorter than its header");
            }
            int stored = 0;
            int referenced = 0;
            for (int i = 0; i < bitmapLen; i++) {
                stored += Integer.bitCount(b.get(Layout.FRAME_HEAD + ChunkFormat.HEAD + i) & 0xff);
                referenced += refs ? Integer.bitCount(b.get(Layout.FRAME_HEAD + ChunkFormat.HEAD + bitmapLen + i) & 0xff) : 0;
            }
            out.add(new ChunkSummary(c.gpa(), c.pages(), stored, referenced, ChunkFormat.zstd(codec), e.length()));
        }
        return out;
    }

    /** One chunk as inspect shows it: pages are stored, referenced (a copy of an earlier page) or zero. */
    public record ChunkSummary(long gpa, int pages, int storedPages, int referencedPages, boolean compressed, long blockBytes) {}

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private SectionBlock section(String name, int instance) {
        SectionBlock s = byKey.get(name + "#" + instance);
        if (s == null) {
            throw new SnapshotFormatException(Kind.NOT_FOUND, path + " has no section " + name + "#" + instance);
        }
        return s;
    }

    private MemoryReader memoryReader() {
        return new MemoryReader(chunkAccess());
    }

    /**
     * The stamp of the file this reader has open, or empty when the file changed or was replaced while it was being
     * opened. What is worked out from the content under this stamp (its {@link #contentDigest}, say) may be kept
     * and reused while the file at the path still has this stamp.
     */
    public java.util.Optional<FileStamp> stamp() {
        return java.util.Optional.ofNullable(stamp);
    }

    /**
     * SHA-256 of the whole file as this reader sees it (its open descriptor, whatever the path names now): what
     * names a file's content, say for a cache of its decoded RAM.
     */
    public byte[] contentDigest() throws IOException {
        java.security.MessageDigest sha;
        try {
            sha = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK lacks SHA-256", e);
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(1 << 20);
        for (long at = 0; at < file.size(); ) {
            b.clear().limit((int) Math.min(b.capacity(), file.size() - at));
            file.read(b, at, "the file");
            at += b.flip().remaining();
            sha.update(b);
        }
        return sha.digest();
    }

    /**
     * The chunks of guest memory for reading one at a time, in any order, for as long as this reader is open
     * (a lazy restore keeps it open until all memory is in place).
     */
    public ChunkAccess chunkAccess() {
        if (memoryMap == null) {
            throw new SnapshotFormatException(Kind.NOT_FOUND, path + " holds no guest memory");
        }
        return new ChunkAccess(path.toString(), file, memoryMap, BlockType.CHUNK, "", chunkBlocks, chunkOffsets(), chunkLengths());
    }

    /** The disks whose content the file holds ({@code snapshot --with-disks}), in file order; empty for most files. */
    public List<DiskContent> disks() {
        return disks.stream().map(d -> new DiskContent(d.map().id(), d.map().size())).toList();
    }

    /** Disk {@code id}'s content, one chunk at a time and in any order (offsets in the disk for guest addresses). */
    public ChunkAccess diskAccess(String id) {
        for (DiskStream d : disks) {
            if (d.map().id().equals(id)) {
                int[] blocks = d.blocks().stream().mapToInt(Integer::intValue).toArray();
                return new ChunkAccess(path.toString(), file, d.map().map(), BlockType.DISK_CHUNK, "disk " + id + " ", blocks,
                        Arrays.stream(blocks).mapToLong(b -> entries.get(b).offset()).toArray(),
                        Arrays.stream(blocks).mapToLong(b -> entries.get(b).length()).toArray());
            }
        }
        throw new SnapshotFormatException(Kind.NOT_FOUND, path + " holds no content of disk " + id);
    }

    /** Fills {@code sink} (offsets from 0) with disk {@code id}'s content, as {@link #readMemory} fills RAM. */
    public MemoryStats readDisk(String id, GuestRamSink sink, boolean sinkIsZeroed, int threads, java.util.function.LongConsumer progress) throws IOException {
        return new MemoryReader(diskAccess(id)).run(sink, sinkIsZeroed, threads, null, progress);
    }

    private long[] chunkOffsets() {
        return Arrays.stream(chunkBlocks).mapToLong(b -> entries.get(b).offset()).toArray();
    }

    private long[] chunkLengths() {
        return Arrays.stream(chunkBlocks).mapToLong(b -> entries.get(b).length()).toArray();
    }

    private String where(int block) {
        IndexEntry e = entries.get(block);
        BlockType t = BlockType.of(e.type());
        return "block " + block + " (" + (t == null ? "type " + e.type() : t) + " at offset " + e.offset() + ")";
    }

    // ---- open: every check before anything is believed ----

    /** Whether this process keeps what an open of the file with {@code stamp} checked (for tests). */
    static boolean keeps(FileStamp stamp) {
        return Parsed.of(stamp) != null;
    }

    private Parsed parsed() {
        return new Parsed(version, List.copyOf(entries), manifest, List.copyOf(sections), memoryMap, chunkBlocks.clone(), List.copyOf(disks), decoded);
    }

    /** This reader's view of the file: what an earlier reader of the same file, in the same state, found in it. */
    private void take(Parsed p) {
        version = p.version();
        entries.addAll(p.entries());
        manifest = p.manifest();
        sections.addAll(p.sections());
        p.sections().forEach(b -> byKey.put(b.info().label(), b));
        memoryMap = p.memoryMap();
        chunkBlocks = p.chunkBlocks().clone();
        disks.addAll(p.disks());
        decoded = p.decoded();
    }

    private void load() throws IOException {
        long size = file.size();
        if (size < Layout.HEADER_SIZE) {
            throw new SnapshotFormatException(size >= Layout.MAGIC.length && Arrays.equals(file.read(0, Layout.MAGIC.length, "header"), Layout.MAGIC)
                    ? Kind.TRUNCATED : Kind.BAD_MAGIC,
                    path + ": " + size + " bytes, too short for a stasis snapshot");
        }
        readHeader();
        if (size < Layout.HEADER_SIZE + Layout.TRAILER_SIZE) {
            throw new SnapshotFormatException(Kind.TRUNCATED, path + ": " + size + " bytes, the file ends before its trailer");
        }
        long[] trailer = readTrailer(size);
        readIndex(trailer[0], trailer[1]);
        readBlocks();
    }

    private void readHeader() throws IOException {
        ByteBuffer h = ByteBuffer.wrap(file.read(0, Layout.HEADER_SIZE, "header")).order(ByteOrder.LITTLE_ENDIAN);
        if (!Arrays.equals(h.array(), 0, 8, Layout.MAGIC, 0, 8)) {
            throw new SnapshotFormatException(Kind.BAD_MAGIC, path + " is not a stasis snapshot (bad magic at offset 0)");
        }
        version = new FormatVersion(Short.toUnsignedInt(h.getShort(8)), Short.toUnsignedInt(h.getShort(10)));
        boolean crcOk = h.getInt(28) == Layout.crc(h.array(), 0, 28);
        if (!version.readable()) {
            throw new SnapshotFormatException(Kind.UNSUPPORTED_VERSION, path + ": format version " + version
                    + (version.major() > FormatVersion.CURRENT.major() ? " is newer than" : " is not one") + " this build reads ("
                    + FormatVersion.CURRENT.major() + ".x)" + (crcOk ? "" : "; the header checksum does not match either, the file may be damaged"));
        }
        if (!crcOk) {
            throw new SnapshotFormatException(Kind.CHECKSUM, path + ": header checksum mismatch (offset 0, 32 bytes)");
        }
    }

    private long[] readTrailer(long size) throws IOException {
        long at = size - Layout.TRAILER_SIZE;
        ByteBuffer t = ByteBuffer.wrap(file.read(at, Layout.TRAILER_SIZE, "trailer")).order(ByteOrder.LITTLE_ENDIAN);
        if (!Arrays.equals(t.array(), 24, 32, Layout.TRAILER_MAGIC, 0, 8)) {
            throw new SnapshotFormatException(Kind.TRUNCATED, path + ": no trailer at the end of the file (offset " + at
                    + "): it is truncated or was not completely written");
        }
        if (t.getInt(20) != Layout.crc(t.array(), 0, 20)) {
            throw new SnapshotFormatException(Kind.CHECKSUM, path + ": trailer checksum mismatch (offset " + at + ")");
        }
        long indexOffset = t.getLong(0);
        long indexLength = t.getLong(8);
        if (indexOffset < Layout.HEADER_SIZE || indexLength < Layout.FRAME_OVERHEAD + 4 || indexOffset > at || indexLength != at - indexOffset) {
            throw new SnapshotFormatException(Kind.MALFORMED, path + ": the trailer (offset " + at + ") points at an index at offset "
                    + indexOffset + " of " + indexLength + " bytes, which is not the space between the blocks and the trailer"
                    + (indexOffset < 0 || indexLength < 0 || indexOffset > size - indexLength ? " (past the end of the file, size " + size + ")" : ""));
        }
        return new long[] {indexOffset, indexLength};
    }

    private void readIndex(long offset, long length) throws IOException {
        String what = "index (offset " + offset + ")";
        byte[] payload = file.payload(offset, length, BlockType.INDEX.code, MAX_INDEX, what);
        Decoder in = new Decoder(payload, 0, payload.length, offset + Layout.FRAME_HEAD, what);
        long count = Integer.toUnsignedLong(in.u32("entry count"));
        if (count * Layout.INDEX_ENTRY_SIZE != in.remaining()) {
            throw in.malformed("entry count " + count + " does not fit the index's " + payload.length + " bytes");
        }
        long expected = Layout.HEADER_SIZE;
        for (int i = 0; i < count; i++) { // the count check above leaves room for every entry; messages only for a bad one
            int type = in.u32("entry type");
            long len = Integer.toUnsignedLong(in.u32("entry length"));
            long off = in.u64("entry offset");
            if (off != expected || len > offset - off || len < Layout.FRAME_OVERHEAD || type == 0 || type == BlockType.INDEX.code) {
                throw badEntry(i, type, off, len, expected, offset);
            }
            entries.add(new IndexEntry(type, off, len));
            expected = off + len;
        }
        if (expected != offset) {
            throw new SnapshotFormatException(Kind.MALFORMED, what + ": the blocks end at offset " + expected + ", not at the index");
        }
    }

    /** What is wrong with index entry {@code i}, which runs from {@code off} for {@code len} bytes. */
    private SnapshotFormatException badEntry(int i, int type, long off, long len, long expected, long indexOffset) {
        String block = "index entry " + i + " (block at offset " + off + ", length " + len + ")";
        if (off != expected) {
            return new SnapshotFormatException(Kind.MALFORMED, block + ": expected the block at offset " + expected + ", right after the previous one");
        }
        if (len > indexOffset - off) {
            return new SnapshotFormatException(Kind.MALFORMED, block + ": runs past the index at offset " + indexOffset
                    + (off + len > file.size() ? ", past the end of the file (size " + file.size() + ")" : ""));
        }
        if (len < Layout.FRAME_OVERHEAD) {
            return new SnapshotFormatException(Kind.MALFORMED, block + ": shorter than a block frame");
        }
        return new SnapshotFormatException(Kind.MALFORMED, block + ": block type " + type + " cannot appear here");
    }

    private void readBlocks() throws IOException {
        ManifestCodec.Decoded decoded = null;
        List<Integer> chunks = new ArrayList<>();
        long sectionBytes = 0;
        for (int i = 0; i < entries.size(); i++) {
            IndexEntry e = entries.get(i);
            BlockType t = BlockType.of(e.type());
            if (t == null) {
                continue; // a newer minor's block: skipped, as the format promises
            }
            switch (t) {
                case MANIFEST -> {
                    if (decoded != null) {
                        throw new SnapshotFormatException(Kind.MALFORMED, where(i) + ": a second manifest");
                    }
                    byte[] p = file.payload(e.offset(), e.length(), t.code, Layout.MAX_MANIFEST, where(i));
                    decoded = ManifestCodec.decode(new Decoder(p, 0, p.length, e.offset() + Layout.FRAME_HEAD, where(i)), newerMinor());
                }
                case SECTION -> {
                    if (sections.size() >= Layout.MAX_SECTIONS || (sectionBytes += e.length()) > Layout.MAX_SECTIONS_TOTAL) {
                        throw new SnapshotFormatException(Kind.LIMIT, where(i) + ": more sections than the limit (" + Layout.MAX_SECTIONS
                                + " sections, " + Layout.MAX_SECTIONS_TOTAL + " bytes)");
                    }
                    byte[] p = file.payload(e.offset(), e.length(), t.code, Layout.MAX_SECTION, where(i));
                    SectionBlock s = SectionBlock.parse(p, i, e.offset());
                    if (byKey.putIfAbsent(s.info().label(), s) != null) {
                        throw new SnapshotFormatException(Kind.MALFORMED, s.where() + ": section " + s.info().label() + " appears twice");
                    }
                    sections.add(s);
                }
                case MEMORY_MAP -> {
                    if (memoryMap != null) {
                        throw new SnapshotFormatException(Kind.MALFORMED, where(i) + ": a second memory map");
                    }
                    byte[] p = file.payload(e.offset(), e.length(), t.code, Layout.MAX_MEMORY_MAP, where(i));
                    memoryMap = MemoryMapCodec.decode(new Decoder(p, 0, p.length, e.offset() + Layout.FRAME_HEAD, where(i)), newerMinor());
                }
                case CHUNK -> {
                    if (memoryMap == null) {
                        throw new SnapshotFormatException(Kind.MALFORMED, where(i) + ": a memory chunk before the memory map");
                    }
                    chunks.add(i);
                }
                case DISK_MAP -> {
                    byte[] p = file.payload(e.offset(), e.length(), t.code, Layout.MAX_MEMORY_MAP, where(i));
                    DiskMapCodec.DiskMap d = DiskMapCodec.decode(new Decoder(p, 0, p.length, e.offset() + Layout.FRAME_HEAD, where(i)));
                    if (disks.stream().anyMatch(x -> x.map().id().equals(d.id()))) {
                        throw new SnapshotFormatException(Kind.MALFORMED, where(i) + ": a second map of disk " + d.id());
                    }
                    disks.add(new DiskStream(d, new ArrayList<>()));
                }
                case DISK_CHUNK -> {
                    if (disks.isEmpty()) {
                        throw new SnapshotFormatException(Kind.MALFORMED, where(i) + ": a disk chunk before any disk map");
                    }
                    disks.get(disks.size() - 1).blocks().add(i);
                }
                case INDEX -> throw new AssertionError("refused while reading the index");
            }
        }
        if (decoded == null) {
            throw new SnapshotFormatException(Kind.MALFORMED, path + ": the index lists no manifest");
        }
        manifest = decoded.manifest();
        checkSectionList(decoded.sections());
        if (memoryMap != null && memoryMap.chunkCount() != chunks.size()) {
            throw new SnapshotFormatException(Kind.MALFORMED, path + ": the memory map needs " + memoryMap.chunkCount()
                    + " chunks, the index lists " + chunks.size());
        }
        chunkBlocks = chunks.stream().mapToInt(Integer::intValue).toArray();
        for (DiskStream d : disks) {
            if (d.map().map().chunkCount() != d.blocks().size()) {
                throw new SnapshotFormatException(Kind.MALFORMED, path + ": disk " + d.map().id() + " needs " + d.map().map().chunkCount()
                        + " chunks, the index lists " + d.blocks().size() + " after its map");
            }
        }
    }

    /** A newer minor may append fields to the manifest and memory map; this build ignores them. */
    private boolean newerMinor() {
        return version.minor() > FormatVersion.CURRENT.minor();
    }

    private void checkSectionList(List<ManifestCodec.Entry> listed) {
        for (int i = 0; i < Math.max(listed.size(), sections.size()); i++) {
            ManifestCodec.Entry l = i < listed.size() ? listed.get(i) : null;
            SectionInfo s = i < sections.size() ? sections.get(i).info() : null;
            if (l == null || s == null || !l.name().equals(s.name()) || l.instance() != s.instance() || l.version() != s.version()) {
                throw new SnapshotFormatException(Kind.MALFORMED, path + ": section " + i + " is "
                        + (s == null ? "missing" : s.label() + " v" + s.version()) + " in the file but "
                        + (l == null ? "missing" : l.name() + "#" + l.instance() + " v" + l.version()) + " in the manifest");
            }
        }
    }
}
