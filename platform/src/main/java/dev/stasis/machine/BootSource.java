package dev.stasis.machine;

import dev.stasis.loader.multiboot.Module;
import dev.stasis.loader.multiboot.MultibootLoader;
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

    /** The boot protocol's name, recorded in the {@code vm} section: flat, elf, pvh, linux64, multiboot1, multiboot2. */
    String protocol();

    /** A Linux kernel with {@code extra} added to its command line (how it finds virtio-mmio devices); others as they are. */
    default BootSource withLinuxParameters(String extra) {
        return this;
    }

    /** A flat test guest entered in long mode on every vCPU, with its parameter block. */
    record Flat(byte[] image, List<Long> parameters) implements BootSource {
        @Override
        public String protocol() {
            return "flat";
        }

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
        public String protocol() {
            return "elf";
        }

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
        public BootSource withLinuxParameters(String extra) {
            return new Pvh(kernel, cmdline + " " + extra, initrd);
        }

        @Override
        public String protocol() {
            return "pvh";
        }

        @Override
        public EntryPoint place(Vm vm) {
            return PvhLoader.load(vm.memory(), kernel, cmdline, initrd);
        }
    }

    /** Linux through the bzImage boot protocol's 64-bit entry. */
    record Linux64(byte[] bzImage, String cmdline, byte[] initrd) implements BootSource {
        @Override
        public BootSource withLinuxParameters(String extra) {
            return new Linux64(bzImage, cmdline + " " + extra, initrd);
        }

        @Override
        public String protocol() {
            return "linux64";
        }

        @Override
        public EntryPoint place(Vm vm) {
            return LinuxLoader.load(vm.memory(), bzImage, cmdline, initrd);
        }
    }

    /** A Multiboot (version 1 or 2) kernel, as QEMU's -kernel and GRUB boot it, with its command line and modules. */
    record Multiboot(byte[] kernel, String cmdline, List<Module> modules) implements BootSource {
        @Override
        public String protocol() {
            return "multiboot" + MultibootLoader.version(kernel);
        }

        @Override
        public EntryPoint place(Vm vm) {
            return MultibootLoader.load(vm.memory(), kernel, cmdline, modules);
        }
    }

    /** The command line Linux gets unless the user gives one. */
    String LINUX_CMDLINE = "console=ttyS0";

    /** How to boot a file whose kind the user did not name. */
    enum Kind { AUTO, FLAT, ELF, PVH, LINUX64, MULTIBOOT }

    /**
     * Recognizes a file: an ELF with a PVH note is Linux (PVH), an image with a Multiboot header (version 2 in its
     * first 32 KiB, 1 in its first 8 KiB) is a Multiboot kernel, another ELF is an ELF guest, a bzImage is
     * Linux (PVH: the vmlinux inside is started directly, faster than decompressing in the guest), a
     * {@code .bin} is a flat guest. Anything else is refused with a message naming what was expected.
     */
    static BootSource of(String name, byte[] file, Kind kind, String cmdline, byte[] initrd, List<Long> parameters) {
        return of(name, file, kind, cmdline, initrd, parameters, List.of());
    }

    /**
     * {@code cmdline} null means the kind's default: {@link #LINUX_CMDLINE} for Linux, nothing for a Multiboot
     * kernel. A Multiboot kernel's command line starts with its file name, as QEMU's {@code -kernel} and GRUB give it.
     */
    static BootSource of(String name, byte[] file, Kind kind, String cmdline, byte[] initrd, List<Long> parameters, List<Module> modules) {
        if (kind == Kind.AUTO) {
            kind = detect(name, file);
        }
        String linux = cmdline != null ? cmdline : LINUX_CMDLINE;
        return switch (kind) {
            case FLAT -> new Flat(file, parameters);
            case ELF -> new Elf(file, parameters);
            case PVH -> new Pvh(file, linux, initrd);
            case LINUX64 -> new Linux64(file, linux, initrd);
            case MULTIBOOT -> new Multiboot(file, cmdline == null || cmdline.isEmpty() ? name : name + " " + cmdline, modules);
            case AUTO -> throw new AssertionError();
        };
    }

    private static Kind detect(String name, byte[] file) {
        boolean elf64 = ElfImage.hasElfMagic(file) && file.length > 4 && file[4] == 2;
        if (elf64 && ElfImage.parse(file).findNote(PvhLoader.XEN_NOTE_OWNER, PvhLoader.XEN_ELFNOTE_PHYS32_ENTRY).isPresent()) {
            return Kind.PVH;
        }
        if (SetupHeader.isBzImage(file)) {
            return Kind.PVH;
        }
        if (MultibootLoader.isMultiboot(file)) {
            return Kind.MULTIBOOT;
        }
        if (ElfImage.hasElfMagic(file)) {
            return Kind.ELF;
        }
        if (name.endsWith(".bin")) {
            return Kind.FLAT;
        }
        throw new InvalidImageException(name + " is not a guest image: expected an ELF64 executable, a Linux bzImage or vmlinux, "
                + "a Multiboot kernel, or a flat .bin image (or name its kind with --boot)");
    }
}
