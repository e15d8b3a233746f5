package dev.stasis.machine;

import dev.stasis.loader.ElfImage;
import dev.stasis.loader.ElfLoader;
import dev.stasis.loader.EntryPoint;
import dev.stasis.loader.FlatLoader;
import dev.stasis.loader.InvalidImageException;
import dev.stasis.loader.LinuxLoader;
import dev.stasis.loader.ParameterBlock;
import dev.stasis.loader.PvhLoader;
import dev.stasis.loader.SetupHeader;
import dev.stasis.vm.Vm;
import java.util.List;

/** What to boot, and how: each kind places its image with its loader and returns the entry point. */
public sealed interface BootSource {
    EntryPoint place(Vm vm);

    /** A flat test guest entered in long mode on every vCPU, with its parameter block. */
    record Flat(byte[] image, List<Long> parameters) implements BootSource {
        @Override
        public EntryPoint place(Vm vm) {
            EntryPoint entry = FlatLoader.load(vm.memory(), image);
            ParameterBlock.write(vm.memory(), vm.config().vcpus(), vm.tscKhz(), parameters);
            return entry;
        }
    }

    /** An ELF64 executable entered in long mode like a flat guest, with its parameter block. */
    record Elf(byte[] image, List<Long> parameters) implements BootSource {
        @Override
        public EntryPoint place(Vm vm) {
            EntryPoint entry = ElfLoader.load(vm.memory(), image);
            ParameterBlock.write(vm.memory(), vm.config().vcpus(), vm.tscKhz(), parameters);
            return entry;
        }
    }

    /** Linux through its PVH entry: a vmlinux, or a bzImage whose vmlinux is extracted. */
    record Pvh(byte[] kernel, String cmdline, byte[] initrd) implements BootSource {
        @Override
        public EntryPoint place(Vm vm) {
            return PvhLoader.load(vm.memory(), kernel, cmdline, initrd);
        }
    }

    /** Linux through the bzImage boot protocol's 64-bit entry. */
    record Linux64(byte[] bzImage, String cmdline, byte[] initrd) implements BootSource {
        @Override
        public EntryPoint place(Vm vm) {
            return LinuxLoader.load(vm.memory(), bzImage, cmdline, initrd);
        }
    }

    /** How to boot a file whose kind the user did not name. */
    enum Kind { AUTO, FLAT, ELF, PVH, LINUX64 }

    /**
     * Recognizes a file: an ELF with a PVH note is Linux (PVH), another ELF is an ELF guest, a bzImage is
     * Linux (PVH: the vmlinux inside is started directly, faster than decompressing in the guest), a
     * {@code .bin} is a flat guest. Anything else is refused with a message naming what was expected.
     */
    static BootSource of(String name, byte[] file, Kind kind, String cmdline, byte[] initrd, List<Long> parameters) {
        if (kind == Kind.AUTO) {
            kind = detect(name, file);
        }
        return switch (kind) {
            case FLAT -> new Flat(file, parameters);
            case ELF -> new Elf(file, parameters);
            case PVH -> new Pvh(file, cmdline, initrd);
            case LINUX64 -> new Linux64(file, cmdline, initrd);
            case AUTO -> throw new AssertionError();
        };
    }

    private static Kind detect(String name, byte[] file) {
        if (ElfImage.hasElfMagic(file)) {
            ElfImage elf = ElfImage.parse(file);
            return elf.findNote(PvhLoader.XEN_NOTE_OWNER, PvhLoader.XEN_ELFNOTE_PHYS32_ENTRY).isPresent() ? Kind.PVH : Kind.ELF;
        }
        if (SetupHeader.isBzImage(file)) {
            return Kind.PVH;
        }
        if (name.endsWith(".bin")) {
            return Kind.FLAT;
        }
        throw new InvalidImageException(name + " is not a guest image: expected an ELF64 executable, a Linux bzImage or vmlinux, "
                + "or a flat .bin image (or name its kind with --boot)");
    }
}
