package dev.stasis.loader;

import dev.stasis.memory.GuestMemory;

/**
 * Loads a flat binary (the fixture guests) at {@link #LOAD_ADDRESS} and enters it in 64-bit long mode on
 * every vCPU at once.
 *
 * <p>Low memory at entry: GDT at {@link BootGdt#BASE}, identity page tables in [0x1000, 0x7000),
 * the {@link ParameterBlock} at 0x7000, vCPU stacks growing down from {@link #STACK_TOP}, 32 KiB each.
 * Registers: RIP = load address, RDI = vCPU index, RSI = parameter block, interrupts off.
 */
public final class FlatLoader {
    private FlatLoader() {}

    public static final long LOAD_ADDRESS = 0x100000;
    public static final long STACK_TOP = 0x80000;
    public static final long STACK_STRIDE = 0x8000;
    /** Guests get at most this many vCPUs, so the lowest stack stays above the parameter block page. */
    public static final int MAX_VCPUS = 8;

    public static EntryPoint load(GuestMemory memory, byte[] image) {
        if (image.length == 0) {
            throw new InvalidImageException("the flat image is empty");
        }
        if (memory.layout().find(LOAD_ADDRESS, image.length) == null) {
            throw new InvalidImageException(String.format(
                    "the flat image (%d bytes at 0x%x) does not fit in guest RAM of %d bytes", image.length, LOAD_ADDRESS, memory.size()));
        }
        BootGdt.write(memory);
        long cr3 = IdentityPageTables.write(memory);
        memory.write(LOAD_ADDRESS, image);
        return new EntryPoint(CpuMode.LONG_64, LOAD_ADDRESS, cr3, ParameterBlock.ADDRESS, 0, STACK_TOP, STACK_STRIDE, true);
    }
}
