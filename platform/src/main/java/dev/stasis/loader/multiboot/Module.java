package dev.stasis.loader.multiboot;

/** A boot module ({@code --module FILE[,STRING]}): its bytes and the string the kernel gets with it. */
public record Module(byte[] data, String string) {
    public Module {
        data = data.clone();
    }

    @Override
    public byte[] data() {
        return data.clone();
    }

    /** Where a module went: guest-physical start and end (exclusive), and its string. */
    record Placed(long start, long end, String string) {}
}
