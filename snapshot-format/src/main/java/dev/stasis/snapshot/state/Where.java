package dev.stasis.snapshot.state;

/**
 * Where in a record or schema a value sits, for the message of a failure only: its text is built by
 * {@link #toString} when a message needs it, never while decoding or encoding succeeds. (Building
 * {@code "vcpu.cpuid[17].eax"} for every value made decoding a section cost milliseconds.)
 */
public final class Where {
    private final Object parent;
    private final String before;
    private final int index;
    private final String after;

    private Where(Object parent, String before, int index, String after) {
        this.parent = parent;
        this.before = before;
        this.index = index;
        this.after = after;
    }

    /** {@code parent.name} */
    public static Where field(Object parent, String name) {
        return new Where(parent, "." + name, -1, "");
    }

    /** {@code parent[index]} */
    public static Where element(Object parent, int index) {
        return new Where(parent, "[", index, "]");
    }

    /** {@code parent} followed by {@code text} as it is (e.g. {@code " length"}) */
    public static Where suffix(Object parent, String text) {
        return new Where(parent, text, -1, "");
    }

    /** {@code parent}, {@code before}, {@code index}, {@code after} (e.g. {@code " field 3 name"}) */
    public static Where numbered(Object parent, String before, int index, String after) {
        return new Where(parent, before, index, after);
    }

    @Override
    public String toString() {
        return parent + before + (index >= 0 ? String.valueOf(index) : "") + after;
    }
}
