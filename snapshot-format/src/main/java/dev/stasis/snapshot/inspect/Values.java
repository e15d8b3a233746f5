package dev.stasis.snapshot.inspect;

import dev.stasis.snapshot.state.FieldType;
import java.util.HexFormat;

/** How inspect shows a single value: integers in decimal (and hex where it helps), bytes as hex. */
final class Values {
    static final int SHORT_BYTES = 16;
    static final int SHORT_LONGS = 8;

    private Values() {}

    static String integer(FieldType t, long v) {
        return switch (t) {
            case I32, I64 -> Long.toString(v);
            case U64 -> Long.toUnsignedString(v) + (v < 0 || v > 9 ? " (0x" + Long.toHexString(v) + ")" : "");
            default -> v + (v > 9 ? " (0x" + Long.toHexString(v) + ")" : "");
        };
    }

    static String bytes(byte[] b, boolean full) {
        if (full || b.length <= SHORT_BYTES) {
            return HexFormat.of().formatHex(b);
        }
        return HexFormat.of().formatHex(b, 0, SHORT_BYTES) + "...";
    }

    static String longs(long[] a, boolean full) {
        StringBuilder s = new StringBuilder("[");
        int n = full ? a.length : Math.min(a.length, SHORT_LONGS);
        for (int i = 0; i < n; i++) {
            s.append(i == 0 ? "" : ", ").append("0x").append(Long.toHexString(a[i]));
        }
        return s.append(n < a.length ? ", ...]" : "]").toString();
    }

    /** A string quoted, with control characters escaped so one value stays on one line. */
    static String quoted(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20 || c == 0x7f) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    static String size(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(v == Math.rint(v) ? "%.0f %s" : "%.1f %s", v, units[u]);
    }
}
