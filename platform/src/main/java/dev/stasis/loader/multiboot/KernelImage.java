package dev.stasis.loader.multiboot;

import dev.stasis.loader.ElfImage;
import dev.stasis.loader.ElfSegment;
import dev.stasis.loader.InvalidImageException;
import java.util.List;

/**
 * Where a Multiboot kernel's bytes go: from its ELF program headers (ELF32 i386, or ELF64 x86-64), or, when its
 * header gives load addresses (Multiboot 1 flag 16, Multiboot 2 address tag), from those: the file from
 * {@code headerOffset - (headerAddr - loadAddr)} up to {@code loadEndAddr} (0: to the end of the file) at
 * {@code loadAddr}, then zeroes up to {@code bssEndAddr} (0: none).
 *
 * @param pieces the file ranges and where each goes; memory past a piece's file bytes up to its memSize is zeroed
 */
record KernelImage(long entry, List<ElfSegment> pieces) {
    /** The load fields of a header, all guest-physical. */
    record AddressFields(long headerAddr, long loadAddr, long loadEndAddr, long bssEndAddr) {}

    long end() {
        return pieces.stream().mapToLong(s -> s.paddr() + s.memSize()).max().orElseThrow();
    }

    static KernelImage fromElf(byte[] file, long entryOverride) {
        if (Elf32Image.isElf32(file)) {
            Elf32Image elf = Elf32Image.parse(file);
            return new KernelImage(entryOverride != 0 ? entryOverride : elf.entry(), elf.loadSegments());
        }
        if (ElfImage.hasElfMagic(file)) {
            ElfImage elf = ElfImage.parse(file);
            return new KernelImage(entryOverride != 0 ? entryOverride : elf.entry(), elf.loadSegments());
        }
        throw new InvalidImageException("the Multiboot kernel is not an ELF image and its header gives no load addresses (Multiboot 1 flag 16, or a Multiboot 2 address tag)");
    }

    static KernelImage fromAddresses(byte[] file, int headerOffset, AddressFields a, long entry) {
        if (Long.compareUnsigned(a.loadAddr(), a.headerAddr()) > 0) {
            throw new InvalidImageException(String.format("Multiboot load_addr 0x%x is above header_addr 0x%x", a.loadAddr(), a.headerAddr()));
        }
        long offset = headerOffset - (a.headerAddr() - a.loadAddr());
        if (offset < 0) {
            throw new InvalidImageException(String.format("Multiboot load_addr 0x%x would start %d bytes before the file", a.loadAddr(), -offset));
        }
        long fileBytes = a.loadEndAddr() == 0 ? file.length - offset : a.loadEndAddr() - a.loadAddr();
        if (fileBytes <= 0 || offset + fileBytes > file.length) {
            throw new InvalidImageException(String.format("Multiboot load_end_addr 0x%x leaves no bytes, or more than the file has, to load at 0x%x",
                    a.loadEndAddr(), a.loadAddr()));
        }
        long memBytes = a.bssEndAddr() == 0 ? fileBytes : a.bssEndAddr() - a.loadAddr();
        if (memBytes < fileBytes) {
            throw new InvalidImageException(String.format("Multiboot bss_end_addr 0x%x is below load_end_addr", a.bssEndAddr()));
        }
        return new KernelImage(entry, List.of(new ElfSegment(ElfSegment.PT_LOAD, 7, offset, a.loadAddr(), a.loadAddr(), fileBytes, memBytes, 4096)));
    }
}
